//go:build unix

package testutil

import (
	"net"
	"syscall"
)

// SmallRecvBufDialer dials sockets whose receive buffer is set small before
// the connection is made, so a client that stops reading fills its side
// after kilobytes rather than the megabytes loopback autotuning allows.
// Shrinking it after the handshake (SetReadBuffer on a connected socket)
// makes the kernel drop data the window had already allowed, and the sender
// then waits for retransmission timeouts: a stall that is TCP's, not the
// server's.
func SmallRecvBufDialer(size int) *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}); err != nil {
			return err
		}
		return serr
	}}
}
