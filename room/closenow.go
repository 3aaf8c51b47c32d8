package room

import (
	"time"

	"github.com/coder/websocket"
)

// closeFrameTimeout bounds the write of the close frame of CloseNow.
const closeFrameTimeout = time.Second

// CloseNow closes the connection with code once what is already queued
// (plus final, if not nil) is written, as Close does, but without the close
// handshake: the close frame is written and the socket dropped at once,
// where Close waits up to 5 s for the client's answer (and the client keeps
// its slot meanwhile). For connections the server will not keep, such as
// one that did not authenticate in time. The first close wins.
func (c *Conn) CloseNow(code websocket.StatusCode, reason string, final []byte) {
	c.mu.Lock()
	if !c.closing {
		c.noHandshake = true
		if final != nil {
			c.queue = append(c.queue, final)
			c.queued += len(final)
		}
	}
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

// closeWithoutHandshake writes a close frame with code and reason after
// what is already on its way and drops the connection.
func (c *Conn) closeWithoutHandshake(code websocket.StatusCode, reason string) {
	c.ws.CloseWithoutHandshake(code, reason, closeFrameTimeout)
}
