//go:build unix

package server_test

import (
	"net"
	"syscall"
)

// smallRecvBufDialer dials sockets whose receive buffer is set small before
// the connection is made, so a client that stops reading fills its side
// (and the window the server's side may grow to) after kilobytes rather
// than the megabytes loopback autotuning allows. Shrinking it after the
// handshake (SetReadBuffer on a connected socket) makes the kernel drop
// data the window had already allowed, and the sender then waits for
// retransmission timeouts: a stall that is TCP's, not the server's.
func smallRecvBufDialer(size int) *net.Dialer {
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

// smallSendBufListener shrinks the send buffer of every socket it accepts:
// loopback autotunes it to megabytes, which a peer that stops reading
// takes before the server's writes ever stall.
type smallSendBufListener struct{ net.Listener }

func (l smallSendBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}
