package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// node is one server node: its WebSocket endpoint and HTTP API base.
type node struct {
	WS       string // ws://host:port/ws
	HTTP     string // http://host:port (no trailing slash)
	Loopback bool   // the host is a loopback address
}

// parseNodes turns -url values into nodes. ws://host:port means the
// endpoint /ws; a path ending in /ws is kept and its prefix is the HTTP
// API's; http and https URLs are accepted as ws and wss.
func parseNodes(urls []string) ([]node, error) {
	var nodes []node
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("-url %q: want ws://host:port", raw)
		}
		var wsScheme, httpScheme string
		switch u.Scheme {
		case "ws", "http":
			wsScheme, httpScheme = "ws", "http"
		case "wss", "https":
			wsScheme, httpScheme = "wss", "https"
		default:
			return nil, fmt.Errorf("-url %q: scheme must be ws, wss, http or https", raw)
		}
		path := strings.TrimSuffix(u.Path, "/")
		wsPath, prefix := path, ""
		switch {
		case path == "":
			wsPath = "/ws"
		case strings.HasSuffix(path, "/ws"):
			prefix = strings.TrimSuffix(path, "/ws")
		}
		n := node{
			WS:   wsScheme + "://" + u.Host + wsPath,
			HTTP: httpScheme + "://" + u.Host + prefix,
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); ip != nil {
			n.Loopback = ip.IsLoopback()
		} else {
			n.Loopback = host == "localhost"
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// Source address spreading: one source IP can hold about 28,000
// connections to one destination (the ephemeral port range), so above
// spreadAbove connections to one loopback node the tester binds its
// connections to 127.0.0.1, 127.0.0.2, ..., at most perSourceIP each.
// Variables so that a test can spread a few connections.
var (
	spreadAbove = 25000
	perSourceIP = 20000
)

const readLimit = 1 << 20 // snapshots can be large

// dialer opens the WebSocket connections of a run. Connection i goes to node
// i % len(nodes); its source address is picked from i as well, so workers
// that share the connection indices share the source addresses evenly.
type dialer struct {
	nodes   []node
	clients [][]*http.Client // [node][source IP]
}

// newDialer prepares HTTP clients for total connections spread over nodes.
// The caller must call close.
func newDialer(nodes []node, total int) *dialer {
	d := &dialer{nodes: nodes}
	for _, n := range nodes {
		perNode := (total + len(nodes) - 1) / len(nodes)
		ips := 1
		if n.Loopback && perNode > spreadAbove {
			ips = min(254, (perNode+perSourceIP-1)/perSourceIP)
		}
		var cs []*http.Client
		for k := 0; k < ips; k++ {
			var local net.Addr
			if ips > 1 {
				local = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+k))}
			}
			cs = append(cs, newWSClient(local))
		}
		d.clients = append(d.clients, cs)
	}
	return d
}

func newWSClient(local net.Addr) *http.Client {
	nd := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: local}
	return &http.Client{Transport: &http.Transport{
		DialContext:           nd.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
		DisableCompression:    true,
		// A WebSocket handshake's connection is taken over by the
		// connection; nothing is pooled.
		MaxIdleConns: 1,
	}}
}

// sourceIPs is how many source addresses connections to node n use.
func (d *dialer) sourceIPs(n int) int { return len(d.clients[n]) }

func (d *dialer) nodeOf(idx int) int { return idx % len(d.nodes) }

// dial opens connection idx with the token as Bearer on the upgrade.
func (d *dialer) dial(ctx context.Context, idx int, token string) (*websocket.Conn, error) {
	n := d.nodeOf(idx)
	cs := d.clients[n]
	c := cs[(idx/len(d.nodes))%len(cs)]
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	h.Set("User-Agent", "liveserver-loadtest")
	ws, resp, err := websocket.Dial(ctx, d.nodes[n].WS, &websocket.DialOptions{HTTPClient: c, HTTPHeader: h})
	if err != nil {
		if resp != nil {
			return nil, &dialError{status: resp.StatusCode, err: err}
		}
		return nil, &dialError{err: err}
	}
	ws.SetReadLimit(readLimit)
	return ws, nil
}

func (d *dialer) close() {
	for _, cs := range d.clients {
		for _, c := range cs {
			c.CloseIdleConnections()
		}
	}
}

// dialError is a failed upgrade, with the HTTP status when there was one.
type dialError struct {
	status int
	err    error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// kind names the failure for the error counts.
func (e *dialError) kind() string {
	if e.status != 0 {
		return fmt.Sprintf("dial_http_%d", e.status)
	}
	return "dial"
}
