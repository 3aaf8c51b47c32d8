package testutil

import "net"

// SmallSendBufListener shrinks the send buffer of every socket it accepts
// to 16 KiB: loopback autotunes it to megabytes, which a peer that stops
// reading would take before the server's writes ever stall.
type SmallSendBufListener struct{ net.Listener }

// Accept accepts a connection and shrinks its send buffer.
func (l SmallSendBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}
