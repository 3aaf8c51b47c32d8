//go:build !unix

package testutil

import "net"

// SmallRecvBufDialer is a plain dialer where socket options are not set
// here: the sockets fill later, after more is queued.
func SmallRecvBufDialer(int) *net.Dialer { return &net.Dialer{} }
