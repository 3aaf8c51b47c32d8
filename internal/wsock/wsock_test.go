package wsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/testutil"
)

// server accepts WebSockets with Accept on loopback and hands each Conn to
// the test, with a goroutine reading it (which sees pongs and closes).
type server struct {
	url   string
	conns chan *Conn
}

func newServer(t testing.TB) *server {
	t.Helper()
	s := &server{conns: make(chan *Conn, 1)}
	var readers sync.WaitGroup
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, AcceptOptions{})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer c.CloseNow()
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		s.conns <- c
	}))
	ts.Listener = testutil.SmallSendBufListener{Listener: ts.Listener}
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		readers.Wait() // every reader ends once the test closed its conns
	})
	s.url = "ws" + strings.TrimPrefix(ts.URL, "http")
	return s
}

// dial connects a coder/websocket client with a small receive buffer and
// returns it with the server's side.
func (s *server) dial(t testing.TB) (*websocket.Conn, *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DialContext: testutil.SmallRecvBufDialer(16 << 10).DialContext}}
	ws, _, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	c := <-s.conns
	t.Cleanup(func() { ws.CloseNow(); c.CloseNow() })
	return ws, c
}

// rawPeer does the opening handshake by hand and returns the bare socket,
// to read the server's bytes as they are, or not at all.
func (s *server) rawPeer(t *testing.T) (net.Conn, *Conn) {
	t.Helper()
	nc, err := testutil.SmallRecvBufDialer(16<<10).Dial("tcp", strings.TrimPrefix(s.url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	var head []byte // byte by byte, so nothing past the response is consumed
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		var b [1]byte
		if _, err := io.ReadFull(nc, b[:]); err != nil {
			t.Fatalf("handshake: %v after %q", err, head)
		}
		head = append(head, b[0])
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake: %q", head)
	}
	c := <-s.conns
	t.Cleanup(func() { nc.Close(); c.CloseNow() })
	return nc, c
}

// batch returns a batch buffer holding payload.
func batch(payload []byte) []byte { return append(make([]byte, Headroom), payload...) }

// send writes a batch as the hub's writers do: at once if the socket takes
// it, else through Flush. It reports whether Flush was needed.
func send(t *testing.T, c *Conn, payload []byte) (flushed bool) {
	t.Helper()
	done, err := c.WriteBatch(batch(payload), false)
	if err == nil && !done {
		flushed, err = true, c.Flush()
	}
	if err != nil {
		t.Fatalf("writing a batch of %d bytes: %v", len(payload), err)
	}
	return flushed
}

// Frames of every length class (7-bit, 16-bit and 64-bit lengths, RFC 6455
// section 5.2) go on the wire exactly as the RFC says, one after another.
func TestBatchLengthClasses(t *testing.T) {
	s := newServer(t)
	nc, c := s.rawPeer(t)
	br := bufio.NewReader(nc)
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 65537, 200000} {
		payload := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		errc := make(chan error, 1)
		go func() {
			done, err := c.WriteBatch(batch(payload), false)
			if err == nil && !done {
				err = c.Flush()
			}
			errc <- err
		}()
		var hdr []byte
		switch {
		case n <= 125:
			hdr = []byte{0x81, byte(n)}
		case n <= 65535:
			hdr = []byte{0x81, 126, byte(n >> 8), byte(n)}
		default:
			hdr = append([]byte{0x81, 127}, binary.BigEndian.AppendUint64(nil, uint64(n))...)
		}
		got := make([]byte, len(hdr)+n)
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("payload of %d bytes: %v", n, err)
		}
		if !bytes.Equal(got[:len(hdr)], hdr) || !bytes.Equal(got[len(hdr):], payload) {
			t.Fatalf("payload of %d bytes: header %x, want %x", n, got[:min(len(got), 10)], hdr)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// A small batch to a socket with room in it is written at once, with no
// Flush, where the platform has non-blocking writes.
func TestBatchGoesAtOnce(t *testing.T) {
	if !rawWrites {
		t.Skip("every batch goes through Flush on this platform")
	}
	s := newServer(t)
	ws, c := s.dial(t)
	done, err := c.WriteBatch(batch([]byte("hello")), false)
	if err != nil || !done {
		t.Fatalf("done %v, err %v", done, err)
	}
	if _, data, err := ws.Read(context.Background()); err != nil || string(data) != "hello" {
		t.Fatalf("read %q, %v", data, err)
	}
}

// A peer that stops reading fills the socket while pings are asked for
// from other goroutines: every ping goes between two frames, never inside
// one, and once the peer reads again it gets every message whole and in
// order and answers every ping.
func TestPingsInterleaveUnderFullSocket(t *testing.T) {
	s := newServer(t)
	ws, c := s.dial(t)
	const total = 2000
	pad := bytes.Repeat([]byte("p"), 2000)
	var flushes atomic.Int64
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range total {
			if send(t, c, fmt.Appendf(nil, "%d %s", i, pad)) {
				flushes.Add(1)
			}
		}
	}()
	// Ping while the socket fills: each write of a ping waits behind the
	// frame in progress, or finishes it first.
	var pings sync.WaitGroup
	for range 8 {
		pings.Add(1)
		go func() {
			defer pings.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Ping(ctx); err != nil {
				t.Errorf("ping: %v", err)
			}
		}()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // nobody reads: the socket is full
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for next := 0; next < total; next++ {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d messages: %v", next, err)
		}
		sp := bytes.IndexByte(data, ' ')
		n, err := strconv.Atoi(string(data[:max(sp, 0)]))
		if typ != websocket.MessageText || sp < 0 || err != nil || n != next || !bytes.Equal(data[sp+1:], pad) {
			t.Fatalf("message %d: got %.40q (%d bytes)", next, data, len(data))
		}
	}
	<-writerDone
	// The client answers pings while it reads; they all end.
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	pings.Wait()
	if flushes.Load() == 0 {
		t.Fatal("no batch needed Flush: the socket never filled, so this test tested nothing")
	}
}

// A peer that stops reading: a batch is left unfinished, the Conn reports
// a write in progress (the hub's stall detector reads it), Flush blocks,
// and CloseNow ends it with an error that every later write returns too.
func TestPeerStopsReading(t *testing.T) {
	s := newServer(t)
	_, c := s.rawPeer(t)
	payload := bytes.Repeat([]byte("s"), 16<<10)
	flushed := make(chan error, 1)
	for i := 0; ; i++ {
		if i == 4096 { // 64 MiB: no loopback socket holds that much
			t.Fatal("the socket never filled")
		}
		done, err := c.WriteBatch(batch(payload), false)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			continue
		}
		if c.WriteStart() == 0 {
			t.Fatal("a batch is unfinished but no write is reported in progress")
		}
		// The rest may still fit as the kernel moves bytes to the peer's
		// side; once the peer's buffer is full too, Flush blocks.
		go func() { flushed <- c.Flush() }()
		select {
		case err := <-flushed:
			if err != nil {
				t.Fatal(err)
			}
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	c.CloseNow()
	if err := <-flushed; err == nil && rawWrites {
		t.Fatal("Flush on a closed socket reported success")
	}
	if _, err := c.WriteBatch(batch([]byte("after")), true); err == nil {
		t.Fatal("a write after CloseNow succeeded")
	}
}

// A peer that reads part of a frame and closes: the write in progress and
// every later one fail (no hang), and so does a ping.
func TestPeerClosesMidFrame(t *testing.T) {
	s := newServer(t)
	nc, c := s.rawPeer(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.WriteBatch(batch(bytes.Repeat([]byte("m"), 8<<20)), true)
		errc <- err
	}()
	if _, err := io.ReadFull(nc, make([]byte, 1000)); err != nil { // the header and a little
		t.Fatal(err)
	}
	nc.(*net.TCPConn).SetLinger(0) // reset, as a crashed client's kernel would
	nc.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a frame to a peer that closed mid-frame was reported written")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the write to a closed peer never returned")
	}
	if _, err := c.WriteBatch(batch([]byte("x")), false); err == nil && rawWrites {
		t.Fatal("a write after the failure succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("a ping after the failure succeeded")
	}
}

// CloseWithoutHandshake puts the close frame on the wire after the batch
// before it, and drops the socket without waiting for the peer's answer.
func TestCloseWithoutHandshake(t *testing.T) {
	if !rawWrites {
		t.Skip("the close handshake runs in the background on this platform")
	}
	s := newServer(t)
	nc, c := s.rawPeer(t)
	send(t, c, []byte("last"))
	if err := c.CloseWithoutHandshake(4008, "auth timeout", time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(nc) // ends: the server dropped the socket
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x81, 4}, "last"...)
	want = append(want, 0x88, 2+12, 4008>>8, 4008&0xff)
	want = append(want, "auth timeout"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}
