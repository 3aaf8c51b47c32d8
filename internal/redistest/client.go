package redistest

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient returns a go-redis client of addr configured as a liveserver
// node configures its own (short timeouts, few retries, the request's
// context bounding every call), closed in tb.Cleanup.
func NewClient(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		DialerRetries: 1, MaxRetries: 2, MaxRetryBackoff: 100 * time.Millisecond, ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
