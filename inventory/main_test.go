package inventory_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/liveserver/liveserver/internal/testutil"
)

// Every store's goroutines (the poller, the purchase pipelines, the sale
// timers) end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreRedisRedial)
}
