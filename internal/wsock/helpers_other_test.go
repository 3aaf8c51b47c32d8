//go:build !unix

package wsock

import "net"

// rawWrites: every batch is left for Flush here.
const rawWrites = false

func smallRecvBufDialer(int) *net.Dialer { return &net.Dialer{} }
