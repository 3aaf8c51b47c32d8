package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// Error is an error answered by the server: an HTTP error body
// {"error":{"code","message",...}} or a WebSocket reply with ok:false.
type Error struct {
	Status  int    // the HTTP status; 0 for a WebSocket reply
	Code    string // the protocol error code, e.g. "sold_out" (protocol.Code*)
	Message string
	// RetryAfter is retry_after_ms (rate_limited, slow_mode, overloaded),
	// or the Retry-After header; zero when absent.
	RetryAfter time.Duration
	// Until is the Unix ms end of a mute (muted); MinBid the least
	// acceptable bid (bid_too_low). Zero when absent.
	Until  int64
	MinBid int64
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("liveserver: HTTP %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("liveserver: %s: %s", e.Code, e.Message)
}

// Retryable reports whether the same request may be sent again, with the
// same idempotency key, after a pause of at least RetryAfter: the server
// says nothing was taken or done.
func (e *Error) Retryable() bool {
	switch e.Code {
	case protocol.CodeUnavailable, protocol.CodeOverloaded, protocol.CodeRateLimited:
		return true
	}
	return false
}

// wireError is the error object of the protocol, with its optional fields.
type wireError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMS int64  `json:"retry_after_ms"`
	Until        int64  `json:"until"`
	MinBid       int64  `json:"min_bid"`
}

func (w wireError) toError(status int) *Error {
	e := &Error{Status: status, Code: w.Code, Message: w.Message, Until: w.Until, MinBid: w.MinBid}
	if w.RetryAfterMS > 0 {
		e.RetryAfter = time.Duration(w.RetryAfterMS) * time.Millisecond
	}
	if e.Code == "" {
		e.Code = protocol.CodeInternal
	}
	return e
}

// Code is the protocol code of err when it is (or wraps) an *Error, else "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
