package room

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/liveserver/liveserver/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreRedisRedial)
}
