//go:build !unix

package server_test

import "net"

// smallRecvBufDialer is a plain dialer where socket options are not set
// (see smallbuf_unix_test.go).
func smallRecvBufDialer(int) *net.Dialer { return &net.Dialer{} }

// smallSendBufListener leaves the sockets as they are here.
type smallSendBufListener struct{ net.Listener }
