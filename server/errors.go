package server

import (
	"errors"
	"net/http"

	"github.com/liveserver/liveserver/protocol"
)

// clientError is the one place where an error becomes what a client sees
// (protocol.AsError classifies it, without side effects) and where a
// failure of the node or its dependencies is logged: once per failed
// request, as every transport answers an error through here exactly once
// (writeError, session.fail, a failed auth). Answers the request earned
// (bad input, sold out, ...) are not logged; details are never sent.
func (s *Server) clientError(err error) *protocol.Error {
	if errors.Is(err, errNotFoundRoute) {
		return protocol.Errorf(protocol.CodeNotFound, "no such route")
	}
	pe := protocol.AsError(err)
	if !protocol.Expected(err) {
		s.failLog.failedAs(pe.Code, err)
	}
	return pe
}

// writeError answers an HTTP request with err: {"error":{"code","message"}}
// (and retry_after_ms when overloaded) with the code's status.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	pe := s.clientError(err)
	writeJSON(w, protocol.HTTPStatus(pe.Code), map[string]any{"error": pe})
}

var errNotFoundRoute = errors.New("no such route")
