package room

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/internal/wsock"
)

// socket is what a Conn may do with its client's WebSocket: write a batch
// of messages as one frame, write a control frame, close, and read.
// internal/wsock implements it and is the only code that writes to a
// client socket; a Conn holds no *websocket.Conn, so nothing here can
// write a frame that would interleave with a batch.
type socket interface {
	// WriteBatch sends buf[wsock.Headroom:] as one text frame. Without
	// wait it writes only what the socket takes at once; false means the
	// rest is left with the socket and Flush must follow before buf is
	// reused or another batch is written.
	WriteBatch(buf []byte, wait bool) (done bool, err error)
	// Flush blocks until a batch left unfinished is on the wire.
	Flush() error
	// Ping writes a ping between batches and waits for the pong.
	Ping(ctx context.Context) error
	// Close writes a close frame and waits (bounded) for the peer's.
	Close(code websocket.StatusCode, reason string) error
	// CloseWithoutHandshake writes a close frame, waiting at most timeout
	// for the socket, and closes without waiting for the peer's answer.
	CloseWithoutHandshake(code websocket.StatusCode, reason string, timeout time.Duration) error
	// CloseNow closes the socket, ending any blocked write or read.
	CloseNow() error
	// WriteStart is when the write in progress began (unix nanos), 0 if
	// none is.
	WriteStart() int64
	// Read reads the next client message; only ReadLoop reads.
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
}

var _ socket = (*wsock.Conn)(nil)
