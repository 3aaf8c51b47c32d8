package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestDecodeClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, wantErrID string
		wantErr             bool
		check               func(ClientMessage) bool
	}{
		{name: "join", in: `{"type":"join","room":"demo","id":"1"}`, check: func(m ClientMessage) bool { return m.Room == "demo" && m.Since == nil && m.ID == "1" }},
		{name: "join since", in: `{"type":"join","room":"demo","since":7}`, check: func(m ClientMessage) bool { return *m.Since == 7 }},
		{name: "since null", in: `{"type":"join","room":"demo","since":null}`, check: func(m ClientMessage) bool { return m.Since == nil }},
		{name: "buy default qty", in: `{"type":"buy","id":"b","room":"r","product":"p1"}`, check: func(m ClientMessage) bool { return m.Qty == 1 }},
		{name: "buy qty", in: `{"type":"buy","id":"b","room":"r","product":"p1","qty":3}`, check: func(m ClientMessage) bool { return m.Qty == 3 }},
		{name: "sale", in: `{"type":"sale_start","id":"s","room":"r","product":"p","price":0,"quantity":5,"per_user_limit":1,"duration_ms":1000,"starts_in_ms":10}`, check: func(m ClientMessage) bool {
			return m.Price == 0 && m.Quantity == 5 && m.PerUserLimit == 1 && m.DurationMS == 1000 && m.StartsInMS == 10
		}},
		{name: "unknown fields ignored", in: `{"type":"ping","extra":{"a":1}}`, check: func(m ClientMessage) bool { return m.Type == TypePing }},
		{name: "64-char room", in: `{"type":"leave","room":"` + strings.Repeat("a", 64) + `"}`, check: func(m ClientMessage) bool { return len(m.Room) == 64 }},
		{name: "65-char room", in: `{"type":"leave","room":"` + strings.Repeat("a", 65) + `","id":"x"}`, wantErr: true, wantErrID: "x"},
		{name: "invalid json", in: `{`, wantErr: true},
		{name: "array", in: `[]`, wantErr: true},
		{name: "missing type", in: `{"id":"q"}`, wantErr: true, wantErrID: "q"},
		{name: "type not string", in: `{"type":5,"id":"q"}`, wantErr: true},
		{name: "id number", in: `{"type":"ping","id":1}`, wantErr: true},
		{name: "id empty", in: `{"type":"ping","id":""}`, wantErr: true},
		{name: "id 65", in: `{"type":"ping","id":"` + strings.Repeat("i", 65) + `"}`, wantErr: true},
		{name: "unknown type", in: `{"type":"nope","id":"u"}`, wantErr: true, wantErrID: "u"},
		{name: "qty float", in: `{"type":"buy","id":"b","room":"r","product":"p","qty":1.0}`, wantErr: true, wantErrID: "b"},
		{name: "qty string", in: `{"type":"buy","id":"b","room":"r","product":"p","qty":"1"}`, wantErr: true, wantErrID: "b"},
		{name: "qty over max", in: `{"type":"buy","id":"b","room":"r","product":"p","qty":1001}`, wantErr: true, wantErrID: "b"},
		{name: "buy no id", in: `{"type":"buy","room":"r","product":"p"}`, wantErr: true},
		{name: "sale missing limit", in: `{"type":"sale_start","id":"s","room":"r","product":"p","price":1,"quantity":5,"duration_ms":1000}`, wantErr: true, wantErrID: "s"},
		{name: "auth no token", in: `{"type":"auth","id":"a"}`, wantErr: true, wantErrID: "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, id, err := DecodeClient([]byte(tc.in))
			if tc.wantErr {
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != CodeBadRequest || pe.Message == "" {
					t.Fatalf("err = %v, want bad_request with a message", err)
				}
				if id != tc.wantErrID {
					t.Fatalf("id = %q, want %q", id, tc.wantErrID)
				}
				return
			}
			if err != nil || !tc.check(m) {
				t.Fatalf("DecodeClient(%s) = %+v, %v", tc.in, m, err)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	msg := []byte(`{"type":"pinned","seq":42}`)
	e, ok := ParseEnvelope(SeqEnvelope(42, msg))
	if !ok || e.Seq != 42 || e.Key != "" || !bytes.Equal(e.Msg, msg) {
		t.Fatalf("seq envelope: %+v %v", e, ok)
	}
	e, ok = ParseEnvelope(VolatileEnvelope(StockKey("p1"), msg))
	if !ok || e.Seq != 0 || e.Key != "stock:p1" || !bytes.Equal(e.Msg, msg) {
		t.Fatalf("volatile envelope: %+v %v", e, ok)
	}
	for _, bad := range []string{"", "S", "S1", "S0\n{}", "Sx\n{}", "V\n{}", "X1\n{}", "S1\n"} {
		if _, ok := ParseEnvelope([]byte(bad)); ok {
			t.Errorf("ParseEnvelope(%q) accepted", bad)
		}
	}
}

func TestMessagesAreOneLineJSON(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{
		Reply("a", 1, map[string]any{"x": "line\nbreak"}),
		ReplyError("a", 1, Errorf(CodeSoldOut, "none left")),
		ErrorMessage(1, Errorf(CodeBadRequest, "bad")),
		Pong("p", 1),
		Marshal(Snapshot{Type: TypeSnapshot, Products: []Product{}}),
	} {
		if bytes.ContainsRune(b, '\n') {
			t.Errorf("message contains a newline, which would split a batched frame: %s", b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["type"] == nil || m["ts"] == nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	var r map[string]any
	json.Unmarshal(ReplyError("a", 1, Errorf(CodeSoldOut, "none")), &r)
	if r["ok"] != false || r["error"].(map[string]any)["code"] != "sold_out" {
		t.Errorf("error reply %v", r)
	}
}

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	want := map[string]int{CodeBadRequest: 400, CodeUnauthorized: 401, CodeForbidden: 403, CodeNotFound: 404, CodeSoldOut: 409,
		CodeLimitExceeded: 409, CodeSaleNotLive: 409, CodeRateLimited: 429, CodeTooManyRooms: 429, CodeUnavailable: 503, CodeInternal: 500}
	for code, st := range want {
		if got := HTTPStatus(code); got != st {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, st)
		}
	}
}

// FuzzDecodeClient checks that any input decodes or is refused with a
// bad_request, never panics, and that what decodes is valid. Its seed
// corpus runs with the normal tests.
func FuzzDecodeClient(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"demo","since":3,"id":"a"}`,
		`{"type":"buy","id":"b","room":"r","product":"p1","qty":2}`,
		`{"type":"sale_start","id":"s","room":"r","product":"p","price":1,"quantity":5,"per_user_limit":1,"duration_ms":1000}`,
		`{"type":"auth","token":"x.y.z"}`, `{"type":"ping"}`, `{"type":"leave","room":"r"}`,
		`{"type":"pin","id":"1","room":"r","product":"p"}`, `{"type":"unpin","id":"1","room":"r"}`,
		`{`, `null`, `{"id":{}}`, `{"type":"join","room":"\u0000"}`, `{"type":"buy","qty":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, id, err := DecodeClient(data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
				t.Fatalf("error %v is not a bad_request", err)
			}
			if len(id) > MaxIDLen {
				t.Fatalf("id %q longer than allowed", id)
			}
			return
		}
		if m.Type == "" || len(m.ID) > MaxIDLen {
			t.Fatalf("decoded an invalid message %+v", m)
		}
		if m.Room != "" && !ValidRoomID(m.Room) {
			t.Fatalf("decoded an invalid room %q", m.Room)
		}
		if m.Type == TypeBuy && (m.Qty < 1 || m.Qty > MaxQty || m.ID == "") {
			t.Fatalf("decoded an invalid buy %+v", m)
		}
	})
}

// The HTTP purchase body is validated exactly as a buy message, for the
// room of the path (a type or room in the body does not count).
func TestDecodeBuyBody(t *testing.T) {
	t.Parallel()
	m, err := DecodeBuyBody("r1", []byte(`{"id":"b1","product":"p1","qty":2,"type":"pin","room":"other"}`))
	if err != nil || m.Type != TypeBuy || m.Room != "r1" || m.ID != "b1" || m.Product != "p1" || m.Qty != 2 {
		t.Fatalf("DecodeBuyBody: %+v, %v", m, err)
	}
	for _, body := range []string{`{"product":"p1"}`, `{"id":7,"product":"p1"}`, `{"id":"b","product":""}`, `{"id":"b","product":"p1","qty":0}`, `{"id":"b","product":"p1","qty":1.5}`, `[]`, `{`} {
		_, err := DecodeBuyBody("r1", []byte(body))
		if ErrorCode(err) != CodeBadRequest {
			t.Errorf("%s: %v, want bad_request", body, err)
		}
		// As the WebSocket buy answers it.
		var ws map[string]any
		if json.Unmarshal([]byte(body), &ws) == nil {
			ws["type"], ws["room"] = TypeBuy, "r1"
			raw, _ := json.Marshal(ws)
			if _, _, wsErr := DecodeClient(raw); ErrorCode(wsErr) != CodeBadRequest || (err != nil && wsErr.Error() != err.Error()) {
				t.Errorf("%s: WebSocket %v, HTTP %v: want the same answer", body, wsErr, err)
			}
		}
	}
	if _, err := DecodeBuyBody("bad room!", []byte(`{"id":"b","product":"p1"}`)); ErrorCode(err) != CodeBadRequest {
		t.Errorf("invalid room: %v", err)
	}
}

// ErrorCode classifies without side effects; AsError gives what a client
// sees, retry_after_ms on overloaded only.
func TestErrorCode(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{Errorf(CodeSoldOut, "x"), CodeSoldOut},
		{fmt.Errorf("wrapped: %w", Errorf(CodeNotFound, "x")), CodeNotFound},
		{DependencyFailed(context.Background(), "buy", refused), CodeUnavailable},
		{DependencyFailed(done, "buy", refused), CodeUnavailable}, // Redis refused
		{DependencyFailed(context.Background(), "buy", errors.New("EOF")), CodeUnavailable},
		{DependencyFailed(done, "buy", context.Canceled), CodeOverloaded},
		{DependencyFailed(context.Background(), "buy", timeoutErr{}), CodeOverloaded}, // an answer read too late
		{fmt.Errorf("join: %w", DependencyFailed(done, "snapshot", timeoutErr{})), CodeOverloaded},
		{DependencyFailed(done, "buy", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}), CodeUnavailable}, // no connection
		{DependencyFailed(context.Background(), "buy", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}), CodeOverloaded},
		{context.DeadlineExceeded, CodeOverloaded},
		{errors.New("boom"), CodeInternal},
	} {
		if got := ErrorCode(c.err); got != c.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", c.err, got, c.want)
		}
		if c.err == nil {
			continue
		}
		pe := AsError(c.err)
		if pe.Code != c.want || (pe.RetryAfterMS > 0) != (c.want == CodeOverloaded) {
			t.Errorf("AsError(%v) = %+v", c.err, pe)
		}
		if Expected(c.err) != (c.want != CodeInternal && c.want != CodeUnavailable && c.want != CodeOverloaded) {
			t.Errorf("Expected(%v) = %v", c.err, Expected(c.err))
		}
	}
	if HTTPStatus(CodeOverloaded) != 503 || HTTPStatus(CodeUnavailable) != 503 {
		t.Error("overloaded and unavailable are 503")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
