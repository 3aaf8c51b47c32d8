//go:build !unix

package wsock

// rawWrites: every batch is left for Flush here.
const rawWrites = false
