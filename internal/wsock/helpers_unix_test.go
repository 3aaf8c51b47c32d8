//go:build unix

package wsock

import (
	"net"
	"syscall"
)

// rawWrites: batches go out with non-blocking writes, so a batch to a
// socket with room is done at once.
const rawWrites = true

// smallRecvBufDialer dials sockets whose receive buffer is set small before
// the connection is made (shrinking it after the handshake makes the kernel
// drop data the window had allowed, and TCP then stalls for seconds).
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
