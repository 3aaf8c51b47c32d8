//go:build unix

package room

import (
	"net"
	"syscall"
)

// smallRecvBufDialer dials sockets whose receive buffer is set small before
// the connection is made. Shrinking it after the handshake (SetReadBuffer on
// a connected socket) makes the kernel drop data the window had already
// allowed, and the sender then waits for retransmission timeouts that back
// off to seconds: a stall that is TCP's, not the server's.
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
