package testutil

import "go.uber.org/goleak"

// IgnoreRedisRedial is for goleak: after a failed dial, go-redis keeps one
// goroutine per pool that retries once a second (pool.(*ConnPool).tryDial)
// and notices the pool was closed only at its next wake-up, up to a second
// after Close returned. It is go-redis's, bounded, and not ours to end.
var IgnoreRedisRedial = goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")
