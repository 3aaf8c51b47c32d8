package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/coder/websocket"
)

func TestCloseCode(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		websocket.CloseError{Code: 4000, Reason: "slow"}:                              "4000",
		fmt.Errorf("read: %w", websocket.CloseError{Code: websocket.StatusGoingAway}): "1001",
		io.EOF: "1006",
		nil:    "1006",
	} {
		if got := closeCode(err); got != want {
			t.Errorf("closeCode(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestErrKind(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		&dialError{status: 503, err: errors.New("x")}:       "join_dial_http_503",
		&dialError{err: errors.New("refused")}:              "join_dial",
		fmt.Errorf("w: %w", &replyError{code: "not_found"}): "join_not_found",
		errTimeout:               "join_timeout",
		context.DeadlineExceeded: "join_timeout",
		errConnLost:              "join_conn_lost",
		errors.New("other"):      "join_failed",
	} {
		if got := errKind("join", err); got != want {
			t.Errorf("errKind(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestReplyErr(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`{"type":"reply","id":"a","ok":true}`:                                            "",
		`{"type":"reply","id":"a","ok":false,"error":{"code":"sold_out","message":"x"}}`: "sold_out",
		`{"type":"reply","id":"a","ok":false}`:                                           "no_code",
		`not json`:                                                                       "undecodable",
	} {
		err := replyErr([]byte(raw))
		var re *replyError
		switch {
		case want == "" && err != nil, want != "" && (!errors.As(err, &re) || re.code != want):
			t.Errorf("replyErr(%s) = %v, want %q", raw, err, want)
		}
	}
}
