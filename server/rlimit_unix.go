//go:build unix

package server

import "syscall"

// openFileLimit is the process's open-file limit (RLIMIT_NOFILE), 0 if it
// cannot be read. Go raises the soft limit to the hard one at start, so
// this is what the node may really open.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<24)) // RLIM_INFINITY is as good as 16 million
}
