// Package protocol owns the liveserver wire format, version 1
// (docs/PROTOCOL.md): the client messages and their validation, the server
// messages, error codes and close codes, and the envelope that carries room
// events between nodes. It is a leaf: it imports none of the project's
// packages, and every other package may import it.
//
// Everything here is plain data and pure functions, safe for concurrent use.
package protocol
