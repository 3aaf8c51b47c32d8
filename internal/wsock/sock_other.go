//go:build !unix

package wsock

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// sock is the write side where there is no non-blocking write(2) to use:
// batches go through coder/websocket's own writer, which serializes them
// with its control frames. WriteBatch without wait leaves every batch to
// Flush, so the hub's writer pool hands each connection with something to
// write to a goroutine of its own: correct, and as fast as a writer per
// connection, which is what these platforms get.
type sock struct {
	mu sync.Mutex // one batch write at a time; guards err
	// err is the first failed write: every later write fails with it.
	err error
	// pending is a batch (Headroom included) left for Flush, or nil.
	pending atomic.Pointer[[]byte]
}

func (c *Conn) accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, error) {
	return websocket.Accept(w, r, opts)
}

// WriteBatch sends buf[Headroom:] as one text frame. With wait it blocks as
// long as the socket does and reports true; without it, it leaves the batch
// for Flush and reports false (there is no write here that cannot block),
// and the caller must call Flush before it reuses buf or writes the next
// batch. On error nothing of buf is kept.
func (c *Conn) WriteBatch(buf []byte, wait bool) (bool, error) {
	if !wait {
		c.since.Store(time.Now().UnixNano())
		c.out.pending.Store(&buf)
		return false, nil
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if err := c.finishLocked(); err != nil {
		return false, err
	}
	if err := c.writeLocked(buf); err != nil {
		return false, err
	}
	return true, nil
}

func (c *Conn) writeLocked(buf []byte) error {
	t := time.Now().UnixNano()
	c.since.Store(t)
	// No deadline: the hub closes a connection whose write stalls, which
	// ends this write.
	err := c.ws.Write(context.Background(), websocket.MessageText, buf[Headroom:])
	c.since.CompareAndSwap(t, 0)
	if err != nil {
		c.out.err = err
	}
	return err
}

// CloseWithoutHandshake closes with code and reason. coder/websocket has no
// close without the handshake, so here the handshake runs in the
// background (the library bounds it: 5 s to write, 5 s to wait) and
// timeout is not used.
func (c *Conn) CloseWithoutHandshake(code websocket.StatusCode, reason string, timeout time.Duration) error {
	go c.ws.Close(code, reason)
	return nil
}
