package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	// CodeUnavailable: a dependency (Redis) is unreachable.
	CodeUnavailable = "unavailable"
	// CodeOverloaded: this node is saturated; retry after RetryAfterMS.
	CodeOverloaded = "overloaded"
	CodeInternal   = "internal"
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

// OverloadRetryAfterMS is the retry_after_ms of an overloaded answer. A
// saturated node drains a burst of purchases in about a second (a few
// thousand a second on 2 CPUs, see BENCHMARKS.md); clients add jitter on
// top, so their retries spread over the next second instead of adding to
// the burst.
const OverloadRetryAfterMS = 1000

// Error is an error with a client-visible code. Packages return it (or wrap
// it) when the caller must see a specific code; anything else is classified
// by ErrorCode. Some codes carry extra fields (docs/PROTOCOL.md, version 1.1):
// RetryAfterMS with overloaded, slow_mode and rate_limited, Until (Unix
// ms) with muted.
type Error struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	Until        int64  `json:"until,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	// MinBid is set on bid_too_low: the least amount the next bid must reach.
	MinBid int64 `json:"min_bid,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// DependencyError is a call to a dependency (Redis) that did not complete.
// Clients see overloaded when Overloaded is set, else unavailable; Op and
// Err are for the log, never sent. Nothing the call would have changed
// may be assumed either way: a purchase retried with the same id tells.
type DependencyError struct {
	Op  string // the call, such as "buy" or "subscribe"
	Err error
	// Overloaded: the request ran out of time (queued on this node for a
	// pipeline or a connection, or its answer not read in time) rather
	// than the dependency refusing or dropping the connection.
	Overloaded bool
}

func (e *DependencyError) Error() string {
	what := "unavailable"
	if e.Overloaded {
		what = "overloaded"
	}
	return e.Op + ": dependency " + what + ": " + e.Err.Error()
}

func (e *DependencyError) Unwrap() error { return e.Err }

// DependencyFailed wraps err, the failure of a call op made on behalf of a
// request whose context is ctx, and classifies it. A call that ran out of
// time (the request's context ended, or a read or write on an open
// connection hit its deadline) is overloaded: a saturated node, which
// reads its answers late, and a dependency that answers late look alike
// from here, and both ask the client to come back after a pause. A call
// the dependency refused or dropped (refused, reset, EOF, a dial that
// failed or timed out) is unavailable: the dependency is unreachable.
func DependencyFailed(ctx context.Context, op string, err error) *DependencyError {
	return &DependencyError{Op: op, Err: err, Overloaded: outOfTime(ctx, err)}
}

func outOfTime(ctx context.Context, err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return false // no connection: unreachable, however it failed
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true // the request's time is up (go-redis may say so as a pool timeout)
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ErrorCode classifies err, without side effects: the code of the *Error
// in its chain; for a *DependencyError, overloaded or unavailable; for a
// request context that ended (a timeout on this node), overloaded; for
// anything else, internal.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var de *DependencyError
	if errors.As(err, &de) {
		if de.Overloaded {
			return CodeOverloaded
		}
		return CodeUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return CodeOverloaded
	}
	return CodeInternal
}

// AsError is the *Error a client sees for err, without side effects: the
// *Error in its chain as it is, or one with ErrorCode's code and a message
// that says nothing of the cause (which is for the log).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch ErrorCode(err) {
	case CodeOverloaded:
		return Overloaded()
	case CodeUnavailable:
		return &Error{Code: CodeUnavailable, Message: "a dependency is unavailable; nothing was changed"}
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// Overloaded is the answer of a saturated node.
func Overloaded() *Error {
	return &Error{Code: CodeOverloaded, Message: "this node is overloaded; retry after retry_after_ms with the same id", RetryAfterMS: OverloadRetryAfterMS}
}

// Expected reports whether err is an answer the request itself earned
// (an *Error: bad input, sold out, ...) rather than a failure of the node
// or its dependencies, which the edge logs.
func Expected(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// HTTPStatus is the HTTP status of an error code.
func HTTPStatus(code string) int {
	switch code {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden, CodeMuted, CodeBanned, CodeChatClosed:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeSoldOut, CodeLimitExceeded, CodeSaleNotLive, CodeAuctionNotLive, CodeBidTooLow:
		return http.StatusConflict
	case CodeBlocked:
		return http.StatusUnprocessableEntity
	case CodeRateLimited, CodeTooManyRooms, CodeSlowMode:
		return http.StatusTooManyRequests
	case CodeUnavailable, CodeOverloaded:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
