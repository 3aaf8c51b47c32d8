package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// -order-retention must be positive; -max-node-queue-bytes 0 or more; both
// come from the environment too.
func TestLifecycleFlags(t *testing.T) {
	noEnv := func(string) string { return "" }
	o, err := parse(nil, noEnv, io.Discard)
	if err != nil || o.orderRetention != 30*24*time.Hour || o.maxNodeQueueBytes != 0 {
		t.Fatalf("defaults: retention %v, node queue %d, %v", o.orderRetention, o.maxNodeQueueBytes, err)
	}
	for _, args := range [][]string{{"-order-retention", "0s"}, {"-order-retention", "-1h"}, {"-max-node-queue-bytes", "-1"}} {
		if _, err := parse(args, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v", args, err)
		}
	}
	o, err = parse(nil, func(k string) string {
		return map[string]string{"LIVESERVER_ORDER_RETENTION": "168h", "LIVESERVER_MAX_NODE_QUEUE_BYTES": "1048576"}[k]
	}, io.Discard)
	if err != nil || o.orderRetention != 168*time.Hour || o.maxNodeQueueBytes != 1<<20 {
		t.Fatalf("from the environment: %v %d %v", o.orderRetention, o.maxNodeQueueBytes, err)
	}
}
