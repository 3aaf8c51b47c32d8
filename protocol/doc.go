// Package protocol owns the liveserver wire format, version 1
// (docs/PROTOCOL.md): the client messages and their validation, the server
// messages, error codes and close codes, and the envelope that carries room
// events between nodes.
//
// Errors are classified here, once (errors.go, after wtf's ErrorCode and
// ErrorMessage): a package returns an *Error for an answer the request
// earned (sold_out, forbidden, ...) or a *DependencyError for a call to
// Redis that did not complete (DependencyFailed tells overloaded, the
// node's own time ran out, from unavailable, Redis is unreachable);
// ErrorCode and AsError turn any error into the code and the *Error a
// client sees, without side effects. The server's edge answers and logs
// with them. It is a leaf: it imports none of the project's
// packages, and every other package may import it.
//
// Everything here is plain data and pure functions, safe for concurrent use.
package protocol
