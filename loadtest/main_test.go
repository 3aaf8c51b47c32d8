package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary act as a worker process: the tester
// re-executes os.Executable, which under go test is the test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-"+workerPlanFlag {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
