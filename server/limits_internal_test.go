package server

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The map of rate limiters stays bounded: idle buckets (full again) are
// swept, and past the bound an entry goes for a new key.
func TestRateLimitersBounded(t *testing.T) {
	r := newRateLimiters[string](1) // burst 2, full again after 2 s
	r.maxKeys = 3
	t0 := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b", "c"} {
		if ok, _ := r.allow(k, t0); !ok {
			t.Fatalf("%s refused on its first call", k)
		}
	}
	if ok, _ := r.allow("d", t0); !ok || r.len() != 3 {
		t.Fatalf("a fourth key: ok %v, %d keys; want admitted and 3 keys", ok, r.len())
	}
	r.allow("d", t0)
	if ok, d := r.allow("d", t0); ok || d <= 0 || d > time.Second {
		t.Fatalf("third call in a burst of 2: ok %v, retry after %v", ok, d)
	}
	later := t0.Add(limiterSweepEvery + time.Second)
	r.allow("e", later)
	if r.len() != 1 {
		t.Fatalf("%d keys after a sweep past every bucket's idle time, want 1", r.len())
	}
	if ok, _ := newRateLimiters[string](0).allow("x", t0); !ok {
		t.Fatal("a zero rate limits")
	}
}

func TestClientAddr(t *testing.T) {
	proxies, _ := ParseTrustedProxies("10.0.0.0/8,::1")
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"192.0.2.1:5000", "203.0.113.9", "192.0.2.1"},                     // untrusted peer: header ignored
		{"10.0.0.2:5000", "", "10.0.0.2"},                                  // a proxy without the header
		{"10.0.0.2:5000", "203.0.113.9", "203.0.113.9"},                    // one proxy
		{"10.0.0.2:5000", "1.1.1.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"}, // chain; spoofed left part
		{"10.0.0.2:5000", "10.1.1.1, 10.2.2.2", "10.1.1.1"},                // all trusted: the left-most
		{"10.0.0.2:5000", "junk, 203.0.113.9", "203.0.113.9"},
		{"10.0.0.2:5000", "203.0.113.9, junk", "10.0.0.2"}, // garbage from a trusted hop: stop there
		{"[::1]:5000", "2001:db8::5", "2001:db8::5"},
		{"[::ffff:192.0.2.1]:5000", "", "192.0.2.1"},
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientAddr(r, proxies); got != netip.MustParseAddr(tc.want) {
			t.Errorf("peer %s, X-Forwarded-For %q: %v, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if addrKey(netip.MustParseAddr("2001:db8:1:2::1")) != addrKey(netip.MustParseAddr("2001:db8:1:2:ffff::1")) {
		t.Error("one IPv6 /64 counts as several addresses")
	}
}

// The listener's cap comes from the open-file limit less the backend's
// descriptors and a reserve; -max-conns defaults below it with room for
// HTTP, and a configured cap the limit cannot hold refuses to start.
func TestConnBudget(t *testing.T) {
	for _, tc := range []struct {
		nofile, backend, maxTCP, maxWS int
		tcp, ws                        int
		err                            string
	}{
		{nofile: 20000, tcp: 20000 - fdReserve, ws: defaultMaxConns},
		{nofile: 20000, backend: 201, tcp: 20000 - 201 - fdReserve, ws: defaultMaxConns},
		{nofile: 1024, tcp: 1024 - fdReserve, ws: 720}, // a quarter kept for HTTP
		{nofile: 200, tcp: 200 - fdReserve, ws: 102},
		{nofile: 1024, maxTCP: 500, maxWS: 400, tcp: 500, ws: 400},
		{nofile: 1024, maxTCP: 2000, err: "-max-tcp-conns 2000 is above what the open-file limit (1024) allows"},
		{nofile: 1024, maxWS: 19000, err: "-max-conns 19000 is above"},
		{nofile: 60, err: "open-file limit (60) leaves no room"},
		{nofile: 0, tcp: defaultMaxConns + maxHTTPReserve, ws: defaultMaxConns},
	} {
		tcp, ws, err := connBudget(tc.nofile, tc.backend, tc.maxTCP, tc.maxWS)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil || tcp != tc.tcp || ws != tc.ws {
			t.Errorf("%+v: %d, %d, %v; want %d, %d", tc, tcp, ws, err, tc.tcp, tc.ws)
		}
	}
}
