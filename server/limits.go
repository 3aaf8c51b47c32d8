package server

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/protocol"
)

// This file holds the node's per-client limits: who a client is (its
// address, behind trusted proxies), how many WebSocket connections an
// address and a user may hold, how many may wait to authenticate, and how
// fast an address and a user may call the HTTP API.

// Defaults of the limits (Config's zero values).
const (
	// defaultMaxConnsPerIP leaves room for many clients behind one address
	// (carrier-grade NAT, an office) while no single address can take a
	// node's slots.
	defaultMaxConnsPerIP   = 256
	defaultMaxConnsPerUser = 16
	// defaultMaxUnauthenticated is the connections that may wait for an
	// auth message at once: a browser spends one round trip there, so
	// this is ample for a crowd arriving, and it caps what tokenless
	// sockets can hold (each for AuthTimeout at most).
	defaultMaxUnauthenticated = 1024
	defaultHTTPRatePerIP      = 50 // requests per second; the burst is twice that
	defaultHTTPRatePerUser    = 10
	// connRetryAfter is the retry_after_ms of a connection refused at a
	// per-IP or per-user cap: a hint, as a slot frees only when another
	// connection ends.
	connRetryAfter = 2 * time.Second
	// maxLimiterKeys bounds each map of HTTP rate limiters. Past it the
	// sweep runs at once, and if that frees nothing an arbitrary entry
	// goes (its client starts again with a full burst: lenient, bounded).
	maxLimiterKeys = 100_000
	// limiterSweepEvery is how often idle rate limiters are dropped.
	limiterSweepEvery = time.Minute
)

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes or
// single addresses (the -trusted-proxies flag). Empty gives none.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix such as 10.0.0.0/8", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix such as 10.0.0.0/8", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address a request comes from: its TCP peer, unless the
// peer is a trusted proxy, in which case X-Forwarded-For is read from the
// right (each proxy appends the address it saw) and the first address that
// is not a trusted proxy is the client. Without trusted proxies the header
// is ignored: anyone can write it.
func clientAddr(r *http.Request, proxies []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{} // not TCP (a test's recorder): one shared bucket
	}
	a := ap.Addr().Unmap()
	if len(proxies) == 0 || !trusted(a, proxies) {
		return a
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			h, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// Not written by a trusted proxy (they write addresses):
				// the nearest hop known is the best answer.
				return a
			}
			a = h.Unmap()
			if !trusted(a, proxies) {
				return a
			}
		}
	}
	return a
}

// addrKey is what the per-address limits count by: an IPv4 address, or an
// IPv6 address's /64 (one subscriber commonly holds a whole /64).
func addrKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	p, _ := a.Prefix(a.BitLen())
	return p
}

// limitOrDefault maps a Config limit: zero is def, negative is none (0).
func limitOrDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// connLimits counts WebSocket connections by address, by user, and those
// still waiting to authenticate. A zero limit is no limit.
type connLimits struct {
	perIP, perUser, unauth int

	mu      sync.Mutex
	byIP    map[netip.Prefix]int
	byUser  map[string]int
	waiting int // connections not authenticated yet
}

func newConnLimits(cfg Config) *connLimits {
	return &connLimits{
		perIP:   limitOrDefault(cfg.MaxConnsPerIP, defaultMaxConnsPerIP),
		perUser: limitOrDefault(cfg.MaxConnsPerUser, defaultMaxConnsPerUser),
		unauth:  limitOrDefault(cfg.MaxUnauthenticated, defaultMaxUnauthenticated),
		byIP:    map[netip.Prefix]int{},
		byUser:  map[string]int{},
	}
}

// connSlot is one connection's share of the counts, from open to release.
type connSlot struct {
	l       *connLimits
	ip      netip.Prefix
	user    string // counted under this user; "" if none
	waiting bool   // counted as not authenticated
	done    bool
}

// refusal is why a connection was refused: the metric's reason and the
// client's error.
type refusal struct {
	reason string
	err    *protocol.Error
}

func (r *refusal) Error() string { return r.err.Error() }

// open counts a new connection from ip, or refuses it at the address's cap.
func (l *connLimits) open(ip netip.Addr) (*connSlot, *refusal) {
	k := addrKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP > 0 && l.byIP[k] >= l.perIP {
		return nil, &refusal{"per_ip", protocol.Errorf(protocol.CodeRateLimited, "too many connections from your address (at most %d)", l.perIP)}
	}
	l.byIP[k]++
	return &connSlot{l: l, ip: k}, nil
}

// wait counts the connection among those waiting to authenticate, or
// refuses it when they are at their budget.
func (c *connSlot) wait() *refusal {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.waiting || c.done {
		return nil
	}
	if l.unauth > 0 && l.waiting >= l.unauth {
		return &refusal{"unauthenticated", protocol.Errorf(protocol.CodeUnavailable, "too many connections waiting to authenticate on this node; retry later or send the token on the upgrade")}
	}
	l.waiting++
	c.waiting = true
	return nil
}

// authenticate counts the connection under who (anonymous development
// viewers, each a user of their own, are not counted) and no longer as
// waiting; it refuses at the user's cap, leaving the counts as they were.
// Authenticating again as the same user (a token refresh) changes nothing.
func (c *connSlot) authenticate(who auth.Identity) *refusal {
	l := c.l
	user := who.User
	if who.Anonymous {
		user = ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.done {
		return nil
	}
	if user != c.user {
		if user != "" && l.perUser > 0 && l.byUser[user] >= l.perUser {
			return &refusal{"per_user", protocol.Errorf(protocol.CodeRateLimited, "too many connections for this user (at most %d); close one", l.perUser)}
		}
		l.uncountUserLocked(c.user)
		if user != "" {
			l.byUser[user]++
		}
		c.user = user
	}
	if c.waiting {
		c.waiting = false
		l.waiting--
	}
	return nil
}

func (l *connLimits) uncountUserLocked(user string) {
	if user == "" {
		return
	}
	if l.byUser[user]--; l.byUser[user] <= 0 {
		delete(l.byUser, user)
	}
}

// release gives the connection's slots back; it is idempotent.
func (c *connSlot) release() {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
	l.uncountUserLocked(c.user)
	if c.waiting {
		l.waiting--
	}
}

// counts reports the connections counted (tests, metrics).
func (l *connLimits) counts() (addrs, users, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.byIP {
		addrs += n
	}
	for _, n := range l.byUser {
		users += n
	}
	return addrs, users, l.waiting
}

// rateLimiters is a bounded map of token buckets by key, swept of idle
// entries. A zero rate means no limit.
type rateLimiters[K comparable] struct {
	limit   rate.Limit
	burst   int
	maxKeys int // maxLimiterKeys, but for tests
	// idle is how long an unused bucket takes to fill again: past it, the
	// bucket is as good as new and may be dropped.
	idle time.Duration

	mu        sync.Mutex
	m         map[K]*keyedLimiter
	lastSweep time.Time
}

type keyedLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiters[K comparable](perSecond float64) *rateLimiters[K] {
	if perSecond <= 0 {
		return &rateLimiters[K]{}
	}
	burst := max(1, int(math.Ceil(2*perSecond)))
	return &rateLimiters[K]{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		maxKeys: maxLimiterKeys,
		idle:    time.Duration(float64(burst)/perSecond*float64(time.Second)) + time.Second,
		m:       map[K]*keyedLimiter{},
	}
}

// allow takes a token from k's bucket at now, or reports how long until
// one is there.
func (r *rateLimiters[K]) allow(k K, now time.Time) (ok bool, retryAfter time.Duration) {
	if r.limit == 0 {
		return true, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= limiterSweepEvery {
		r.sweepLocked(now)
	}
	e := r.m[k]
	if e == nil {
		if len(r.m) >= r.maxKeys {
			r.sweepLocked(now)
			for old := range r.m {
				if len(r.m) < r.maxKeys {
					break
				}
				delete(r.m, old)
			}
		}
		e = &keyedLimiter{lim: rate.NewLimiter(r.limit, r.burst)}
		r.m[k] = e
	}
	e.seen = now
	res := e.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweepLocked drops the buckets unused long enough to be full again.
func (r *rateLimiters[K]) sweepLocked(now time.Time) {
	r.lastSweep = now
	for k, e := range r.m {
		if now.Sub(e.seen) > r.idle {
			delete(r.m, k)
		}
	}
}

func (r *rateLimiters[K]) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// httpLimits rate-limits the HTTP API by client address and by user.
type httpLimits struct {
	byIP   *rateLimiters[netip.Prefix]
	byUser *rateLimiters[string]
}

func newHTTPLimits(cfg Config) *httpLimits {
	return &httpLimits{
		byIP:   newRateLimiters[netip.Prefix](rateOrDefault(cfg.HTTPRatePerIP, defaultHTTPRatePerIP)),
		byUser: newRateLimiters[string](rateOrDefault(cfg.HTTPRatePerUser, defaultHTTPRatePerUser)),
	}
}

func rateOrDefault(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// rateLimitedAPI wraps h: a request to the HTTP API (/api/, /dev/token)
// from an address over its rate is answered 429 before anything else is
// done for it (no token is verified, no body read).
func (s *Server) rateLimitedAPI(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/dev/token" {
			if ok, d := s.httpLimits.byIP.allow(addrKey(clientAddr(r, s.cfg.TrustedProxies)), time.Now()); !ok {
				s.limitMetrics.httpLimited.WithLabelValues("ip").Inc()
				writeRateLimited(w, d, "too many requests from your address; slow down")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// allowUser applies the per-user rate to an authenticated HTTP call; it
// answers 429 and returns false when the user is over it. Anonymous
// development viewers have only their address's limit.
func (s *Server) allowUser(w http.ResponseWriter, who auth.Identity) bool {
	if who.User == "" || who.Anonymous {
		return true
	}
	ok, d := s.httpLimits.byUser.allow(who.User, time.Now())
	if !ok {
		s.limitMetrics.httpLimited.WithLabelValues("user").Inc()
		writeRateLimited(w, d, "too many requests for this user; slow down")
	}
	return ok
}

// rateLimitedError is the error body of a 429: the code and message, and
// retry_after_ms, the least wait before a retry can pass.
type rateLimitedError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

// writeRateLimited answers 429 rate_limited with retry_after_ms in the
// body and Retry-After (whole seconds, rounded up) in the header.
func writeRateLimited(w http.ResponseWriter, retryAfter time.Duration, msg string) {
	ms := max(1, (retryAfter+time.Millisecond-1)/time.Millisecond)
	secs := max(1, (retryAfter+time.Second-1)/time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": rateLimitedError{Code: protocol.CodeRateLimited, Message: msg, RetryAfterMS: int64(ms)}})
}

// refuseConn answers an upgrade refused by a connection limit: 429 with
// retry_after_ms for a per-address or per-user cap, else the refusal's own
// status.
func (s *Server) refuseConn(w http.ResponseWriter, rf *refusal) {
	s.metrics.refused.WithLabelValues(rf.reason).Inc()
	if rf.err.Code == protocol.CodeRateLimited {
		w.Header().Set("Retry-After", strconv.Itoa(int(connRetryAfter/time.Second)))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": rateLimitedError{Code: rf.err.Code, Message: rf.err.Message, RetryAfterMS: connRetryAfter.Milliseconds()}})
		return
	}
	s.writeError(w, rf.err)
}

// noteUntrustedProxy logs, at most once a minute, that connections were
// refused at the per-address cap from a peer that sends X-Forwarded-For
// but is not a trusted proxy: behind a proxy every client has the proxy's
// address until -trusted-proxies names it.
func (s *Server) noteUntrustedProxy(r *http.Request) {
	if r.Header.Get("X-Forwarded-For") == "" {
		return
	}
	now := time.Now().UnixNano()
	last := s.proxyWarned.Load()
	if now-last < int64(time.Minute) || !s.proxyWarned.CompareAndSwap(last, now) {
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	s.log.Warn("connections refused at -max-conns-per-ip from a peer that sends X-Forwarded-For; if it is your proxy, list it in -trusted-proxies", "peer", host)
}

// limitMetrics are the metrics of this file.
type limitMetrics struct {
	httpLimited *prometheus.CounterVec
}

func (s *Server) registerLimitMetrics(reg prometheus.Registerer) {
	s.limitMetrics.httpLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liveserver_http_rate_limited_total",
		Help: "HTTP API requests answered 429, by the limit they passed (ip or user).",
	}, []string{"by"})
	for _, by := range []string{"ip", "user"} {
		s.limitMetrics.httpLimited.WithLabelValues(by) // a 0 from the start
	}
	reg.MustRegister(s.limitMetrics.httpLimited, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "liveserver_ws_unauthenticated",
		Help: "WebSocket connections waiting to authenticate (counted against -max-unauthenticated).",
	}, func() float64 {
		_, _, waiting := s.conns.counts()
		return float64(waiting)
	}))
}
