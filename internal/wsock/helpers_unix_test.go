//go:build unix

package wsock

// rawWrites: batches go out with non-blocking writes, so a batch to a
// socket with room is done at once.
const rawWrites = true
