package protocol

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes, as in docs/PROTOCOL.md.
const (
	CodeBadRequest    = "bad_request"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not_found"
	CodeSoldOut       = "sold_out"
	CodeLimitExceeded = "limit_exceeded"
	CodeSaleNotLive   = "sale_not_live"
	CodeRateLimited   = "rate_limited"
	CodeTooManyRooms  = "too_many_rooms"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
	// CodeSlowConsumer is sent in an error message before a 4000 close.
	CodeSlowConsumer = "slow_consumer"
	// CodeTokenExpired is sent in an error message before the 1008 close of
	// a connection whose token expired without a refresh.
	CodeTokenExpired = "token_expired"
)

// WebSocket close codes.
const (
	CloseGoingAway    = 1001
	CloseInvalidData  = 1007 // a text frame that is not UTF-8 (RFC 6455, 8.1)
	ClosePolicy       = 1008
	CloseTooBig       = 1009
	CloseTryAgain     = 1013
	CloseSlowConsumer = 4000
)

// Error is an error with a client-visible code. Packages return it (or wrap
// it) when the caller must see a specific code; anything else maps to
// internal.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError maps any error to the *Error a client sees: the *Error in its chain,
// or internal (whose message says nothing of the cause, which is for logs).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// HTTPStatus is the HTTP status of an error code.
func HTTPStatus(code string) int {
	switch code {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeSoldOut, CodeLimitExceeded, CodeSaleNotLive:
		return http.StatusConflict
	case CodeRateLimited, CodeTooManyRooms:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
