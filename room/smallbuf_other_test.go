//go:build !unix

package room

import "net"

// smallRecvBufDialer is a plain dialer where socket options are not set
// here: the sockets fill later, after more is queued.
func smallRecvBufDialer(int) *net.Dialer { return &net.Dialer{} }
