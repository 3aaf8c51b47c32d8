// Package redistest starts a real redis-server for a test, and puts a TCP
// proxy in front of any address, so that tests can exercise the code that
// talks to Redis against the real thing and inject the faults that matter in
// production: a crashed server (Server.Kill), a restart with or without an
// append-only file (Server.Restart, WithAppendOnly) and a broken network
// between client and server (Proxy.Cut, Proxy.Restore).
//
// Every Server runs its own redis-server process on a free 127.0.0.1 port,
// with its own data directory from tb.TempDir, and is stopped (and waited
// for) in tb.Cleanup, so tests may run in parallel and leave no process
// behind. No mock is ever used: when the redis-server binary is missing the
// test is skipped, or fails if LIVESERVER_REQUIRE_REDIS=1 (as in CI).
//
// The methods that can fail the test (Start, Restart, NewProxy) call
// tb.Fatal and so must be called from the test's goroutine.
package redistest
