package docs_test

// TestDescriptionsMatchTheWire drives a real node over HTTP and WebSocket
// and checks every answer and message it gets against openapi.yaml and
// asyncapi.yaml: the documented required fields are there, no field is
// undocumented, and each value has the documented type, constant or enum.
// It catches a field added, renamed or dropped on one side only.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveserver/liveserver/server"
)

func TestDescriptionsMatchTheWire(t *testing.T) {
	srv, err := server.New(server.Config{ViewersInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	d := newDocs(t)
	v := &wireValidator{d: d}

	call := func(method, path, token string, body any, wantStatus int) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			v.checkRequest(t, method, path, body)
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, raw)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
		v.checkHTTP(t, method, path, resp.StatusCode, out)
		return out
	}

	tok := call("POST", "/dev/token", "", map[string]any{"sub": "maya", "role": "creator", "rooms": []string{"r1"}}, 200)["token"].(string)
	room := map[string]any{"title": "Spring", "products": []map[string]any{
		{"id": "p1", "name": "Tote", "price": 1999, "currency": "USD", "image": "/demo/img/tote.svg", "stock": 3},
		{"id": "p2", "name": "Cap", "price": 999, "currency": "USD", "image": "", "stock": 5},
	}}
	call("PUT", "/api/rooms/r1", tok, room, 201)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	seen := map[string]int{}
	msgs := make(chan map[string]any, 1024)
	go func() {
		defer close(msgs)
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			for _, line := range bytes.Split(data, []byte("\n")) {
				var m map[string]any
				if json.Unmarshal(line, &m) == nil {
					msgs <- m
				}
			}
		}
	}()
	send := func(m map[string]any) {
		if m["type"] != "nonsense" {
			v.checkClient(t, m)
		}
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	// awaitAll reads messages, checking each, until it has seen one of
	// each of types (in any order).
	awaitAll := func(types ...string) {
		t.Helper()
		want := map[string]bool{}
		for _, typ := range types {
			want[typ] = true
		}
		for len(want) > 0 {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("connection ended before %v (seen %v)", types, seen)
				}
				mt, _ := m["type"].(string)
				seen[mt]++
				v.checkMessage(t, mt, m)
				delete(want, mt)
			case <-ctx.Done():
				t.Fatalf("no %v message (seen %v)", want, seen)
			}
		}
	}
	// await reads messages, checking each, until one of type typ.
	await := func(typ string) map[string]any {
		t.Helper()
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("connection ended before a %q message (seen %v)", typ, seen)
				}
				mt, _ := m["type"].(string)
				seen[mt]++
				v.checkMessage(t, mt, m)
				if mt == typ {
					return m
				}
			case <-ctx.Done():
				t.Fatalf("no %q message (seen %v)", typ, seen)
			}
		}
	}

	send(map[string]any{"type": "auth", "token": tok, "id": "a1"})
	await("reply")
	send(map[string]any{"type": "join", "room": "r1", "id": "j1"})
	await("snapshot")
	call("GET", "/api/rooms/r1", "", nil, 200)
	call("POST", "/api/rooms/r1/pin", tok, map[string]any{"product": "p1"}, 200)
	await("pinned")
	call("DELETE", "/api/rooms/r1/pin", tok, nil, 200)
	await("unpinned")
	send(map[string]any{"type": "pin", "room": "r1", "product": "p2", "id": "c1"})
	await("pinned")
	call("POST", "/api/rooms/r1/sales", tok, map[string]any{"product": "p2", "price": 500, "quantity": 2, "per_user_limit": 1, "duration_ms": 60000}, 201)
	await("sale")
	call("POST", "/api/rooms/r1/purchases", tok, map[string]any{"id": "b1", "product": "p2"}, 200)
	awaitAll("stock", "purchase")
	call("POST", "/api/rooms/r1/purchases", tok, map[string]any{"id": "b2", "product": "p2"}, 409) // limit_exceeded
	send(map[string]any{"type": "buy", "room": "r1", "product": "p1", "qty": 2, "id": "c2"})
	await("stock")
	call("DELETE", "/api/rooms/r1/sales/current", tok, nil, 200)
	await("sale")
	send(map[string]any{"type": "sale_start", "room": "r1", "product": "p1", "price": 100, "quantity": 1, "per_user_limit": 1, "duration_ms": 60000, "starts_in_ms": 60000, "id": "c3"})
	await("sale")
	send(map[string]any{"type": "sale_stop", "room": "r1", "id": "c4"})
	await("sale")
	send(map[string]any{"type": "unpin", "room": "r1", "id": "c5"})
	await("unpinned")
	call("PUT", "/api/rooms/r1", tok, room, 200)
	await("catalog")
	send(map[string]any{"type": "ping", "id": "p"})
	await("pong")
	send(map[string]any{"type": "nonsense"})
	await("error")
	send(map[string]any{"type": "buy", "room": "r1", "product": "nope", "id": "c6"})
	for m := await("reply"); m["id"] != "c6"; m = await("reply") {
	}
	send(map[string]any{"type": "leave", "room": "r1", "id": "l1"})
	for m := await("reply"); m["id"] != "l1"; m = await("reply") {
	}
	send(map[string]any{"type": "join", "room": "r1", "since": 1, "id": "j2"})
	for m := await("reply"); m["id"] != "j2"; m = await("reply") {
	}
	// The chat and its moderation (version 1.1).
	viewer := call("POST", "/dev/token", "", map[string]any{"sub": "jo", "name": "Jo"}, 200)["token"].(string)
	send(map[string]any{"type": "comment", "room": "r1", "text": "hello", "id": "m1"})
	awaitAll("comment")
	posted := call("POST", "/api/rooms/r1/comments", viewer, map[string]any{"text": "hi all"}, 201)
	awaitAll("comment")
	handle := posted["comment"].(map[string]any)["author"].(map[string]any)["id"].(string)
	commentID := posted["comment"].(map[string]any)["id"].(string)
	send(map[string]any{"type": "react", "room": "r1", "kind": "heart", "id": "m2"})
	awaitAll("reactions")
	send(map[string]any{"type": "chat_settings", "room": "r1", "slow_mode_ms": 1000, "announcement": "welcome", "id": "m3"})
	await("chat")
	call("PATCH", "/api/rooms/r1/chat", tok, map[string]any{"enabled": true, "announcement": nil}, 200)
	await("chat")
	call("GET", "/api/rooms/r1/comments?limit=10", "", nil, 200)
	call("POST", "/api/rooms/r1/comments", viewer, map[string]any{"text": "again"}, 429) // slow mode
	call("PUT", "/api/rooms/r1/chat/blocklist", tok, map[string]any{"terms": []string{"spam"}}, 200)
	call("GET", "/api/rooms/r1/chat/blocklist", tok, nil, 200)
	call("GET", "/api/rooms/r1/chat/blocklist", viewer, nil, 403)
	call("PUT", "/api/rooms/r1/mutes/"+handle, tok, map[string]any{"duration_ms": 60000}, 200)
	call("POST", "/api/rooms/r1/comments", viewer, map[string]any{"text": "muted?"}, 403)
	call("DELETE", "/api/rooms/r1/mutes/"+handle, tok, nil, 200)
	send(map[string]any{"type": "mute", "room": "r1", "user": handle, "duration_ms": 1000, "id": "m4"})
	send(map[string]any{"type": "unmute", "room": "r1", "user": handle, "id": "m5"})
	call("DELETE", "/api/rooms/r1/comments/"+commentID, tok, nil, 200)
	await("comment_deleted")
	send(map[string]any{"type": "delete_comment", "room": "r1", "comment": commentID, "id": "m6"})
	send(map[string]any{"type": "ban", "room": "r1", "user": handle, "id": "m7"})
	send(map[string]any{"type": "unban", "room": "r1", "user": handle, "id": "m8"})
	for m := await("reply"); m["id"] != "m8"; m = await("reply") {
	}
	call("PUT", "/api/rooms/r1/bans/"+handle, tok, nil, 200)
	call("POST", "/api/rooms/r1/purchases", viewer, map[string]any{"id": "b9", "product": "p1"}, 403) // banned
	call("DELETE", "/api/rooms/r1/bans/"+handle, tok, nil, 200)

	call("GET", "/api/rooms/r1/orders?limit=1", tok, nil, 200)
	call("GET", "/api/rooms/r1/orders", "", nil, 403)
	call("GET", "/api/rooms/nope", "", nil, 404)
	call("GET", "/api/rooms/bad%20id", "", nil, 400)
	call("GET", "/healthz", "", nil, 200)
	call("GET", "/readyz", "", nil, 200)
	call("DELETE", "/api/rooms/r1", tok, nil, 200)
	await("room_closed")

	var types []string
	for typ := range seen {
		types = append(types, typ)
	}
	sort.Strings(types)
	t.Logf("checked %d HTTP answers and these WebSocket messages: %v", v.http, seen)
	if v.http == 0 || len(types) < 8 {
		t.Fatalf("checked too little: %d HTTP answers, message types %v", v.http, types)
	}
}

// wireValidator checks JSON values against the descriptions' schemas: the
// subset of JSON Schema they use (type, const, enum, properties, required,
// items, oneOf, anyOf, allOf, additionalProperties, minimum, maximum,
// pattern-free strings). An object may have no property its schema does
// not name.
type wireValidator struct {
	d    *docs
	http int
}

func (v *wireValidator) checkHTTP(t *testing.T, method, path string, status int, body map[string]any) {
	t.Helper()
	const file = "openapi.yaml"
	route := strings.SplitN(path, "?", 2)[0]
	paths := v.d.get(file)["paths"].(map[string]any)
	var op map[string]any
	for p, item := range paths {
		if matchPath(p, route) {
			op, _ = item.(map[string]any)[strings.ToLower(method)].(map[string]any)
			break
		}
	}
	if op == nil {
		t.Errorf("openapi.yaml has no operation for %s %s", method, route)
		return
	}
	resps, _ := op["responses"].(map[string]any)
	rf, resp := v.d.deref(file, resps[strconv.Itoa(status)])
	r, _ := resp.(map[string]any)
	if r == nil {
		t.Errorf("openapi.yaml: %s %s has no %d answer, which the server gave: %v", method, route, status, body)
		return
	}
	content, _ := r["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		t.Errorf("openapi.yaml: %s %s %d has no application/json content", method, route, status)
		return
	}
	v.http++
	if errs := v.validate(rf, media["schema"], body, "body"); len(errs) > 0 {
		t.Errorf("%s %s answered %d with %v, which openapi.yaml does not describe:\n  %s", method, route, status, body, strings.Join(errs, "\n  "))
	}
}

// checkRequest checks a request body the test sends against the
// operation's requestBody: the description must accept what the server
// accepts.
func (v *wireValidator) checkRequest(t *testing.T, method, path string, body any) {
	t.Helper()
	const file = "openapi.yaml"
	var generic any
	b, _ := json.Marshal(body)
	json.Unmarshal(b, &generic)
	for p, item := range v.d.get(file)["paths"].(map[string]any) {
		if !matchPath(p, strings.SplitN(path, "?", 2)[0]) {
			continue
		}
		op, _ := item.(map[string]any)[strings.ToLower(method)].(map[string]any)
		rf, rb := v.d.deref(file, op["requestBody"])
		media := mapOf(mapOf(mapOf(rb)["content"])["application/json"])
		if media == nil {
			t.Errorf("openapi.yaml: %s %s has no JSON request body, which the server takes", method, p)
			return
		}
		if errs := v.validate(rf, media["schema"], generic, "request"); len(errs) > 0 {
			t.Errorf("openapi.yaml refuses the body %v of %s %s, which the server accepts:\n  %s", body, method, p, strings.Join(errs, "\n  "))
		}
		return
	}
}

// checkClient checks a client message the test sends against its payload
// in asyncapi.yaml.
func (v *wireValidator) checkClient(t *testing.T, m map[string]any) {
	t.Helper()
	const file = "asyncapi.yaml"
	var generic any
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &generic)
	for _, op := range v.d.get(file)["operations"].(map[string]any) {
		o := op.(map[string]any)
		if o["action"] != "receive" {
			continue
		}
		for _, ref := range o["messages"].([]any) {
			mf, mv := v.d.deref(file, ref)
			msg := mv.(map[string]any)
			if slices.Contains(v.d.payloadTypes(mf, msg["payload"]), m["type"].(string)) {
				if errs := v.validate(mf, msg["payload"], generic, m["type"].(string)); len(errs) > 0 {
					t.Errorf("asyncapi.yaml refuses the client message %v, which the server accepts:\n  %s", m, strings.Join(errs, "\n  "))
				}
				return
			}
		}
	}
	t.Errorf("asyncapi.yaml has no client message of type %v", m["type"])
}

func matchPath(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func (v *wireValidator) checkMessage(t *testing.T, typ string, m map[string]any) {
	t.Helper()
	const file = "asyncapi.yaml"
	ops := v.d.get(file)["operations"].(map[string]any)
	for _, op := range ops {
		o := op.(map[string]any)
		if o["action"] != "send" {
			continue
		}
		for _, ref := range o["messages"].([]any) {
			mf, mv := v.d.deref(file, ref)
			msg := mv.(map[string]any)
			if slices.Contains(v.d.payloadTypes(mf, msg["payload"]), typ) {
				if errs := v.validate(mf, msg["payload"], m, typ); len(errs) > 0 {
					t.Errorf("the server sent %v, which asyncapi.yaml does not describe:\n  %s", m, strings.Join(errs, "\n  "))
				}
				return
			}
		}
	}
	t.Errorf("the server sent a %q message, which asyncapi.yaml has no server message for: %v", typ, m)
}

// validate returns what is wrong with value under schema (nothing when it
// conforms).
func (v *wireValidator) validate(file string, schema, value any, at string) []string {
	file, schema = v.d.deref(file, schema)
	s, _ := schema.(map[string]any)
	if s == nil {
		return nil
	}
	var errs []string
	if c, ok := s["const"]; ok && !jsonEqual(c, value) {
		return []string{fmt.Sprintf("%s: %v, want %v", at, value, c)}
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return jsonEqual(x, value) }) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", at, value, e)}
	}
	for _, sub := range listOf(s["allOf"]) {
		if _, isObj := value.(map[string]any); isObj && hasProps(v.d, file, sub) {
			continue // merged below
		}
		errs = append(errs, v.validate(file, sub, value, at)...)
	}
	alts := append(listOf(s["oneOf"]), listOf(s["anyOf"])...)
	if obj, ok := value.(map[string]any); ok && (s["properties"] != nil || s["type"] == "object") {
		variants := [][]any{{schema}}
		if len(alts) > 0 {
			variants = nil
			for _, alt := range alts {
				variants = append(variants, []any{schema, alt})
			}
		}
		var best []string
		for i, parts := range variants {
			e := v.validateObject(file, parts, obj, at)
			if len(e) == 0 {
				return errs
			}
			if i == 0 || len(e) < len(best) {
				best = e
			}
		}
		return append(errs, best...)
	}
	if len(alts) > 0 {
		var best []string
		for i, alt := range alts {
			e := v.validate(file, alt, value, at)
			if len(e) == 0 {
				return errs
			}
			if i == 0 || len(e) < len(best) {
				best = e
			}
		}
		return append(errs, best...)
	}
	switch typ, _ := s["type"].(string); typ {
	case "null":
		if value != nil {
			errs = append(errs, fmt.Sprintf("%s: %v, want null", at, value))
		}
	case "string":
		if _, ok := value.(string); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v, want a string", at, value))
		}
	case "boolean":
		if _, ok := value.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v, want a boolean", at, value))
		}
	case "integer", "number":
		f, ok := value.(float64)
		if !ok || (typ == "integer" && f != math.Trunc(f)) {
			errs = append(errs, fmt.Sprintf("%s: %v, want an %s", at, value, typ))
			break
		}
		if lo, ok := asFloat(s["minimum"]); ok && f < lo {
			errs = append(errs, fmt.Sprintf("%s: %v below the minimum %v", at, f, lo))
		}
		if hi, ok := asFloat(s["maximum"]); ok && f > hi {
			errs = append(errs, fmt.Sprintf("%s: %v above the maximum %v", at, f, hi))
		}
	case "array":
		arr, ok := value.([]any)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: %v, want an array", at, value))
			break
		}
		for i, x := range arr {
			errs = append(errs, v.validate(file, s["items"], x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "object":
		if _, ok := value.(map[string]any); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v, want an object", at, value))
		}
	}
	return errs
}

// validateObject checks obj against the merged properties and required
// fields of parts (a schema and its allOf members, and one oneOf/anyOf
// alternative).
func (v *wireValidator) validateObject(file string, parts []any, obj map[string]any, at string) []string {
	props := map[string]any{}
	propFile := map[string]string{}
	var required []string
	var extra any
	var walk func(f string, sch any)
	walk = func(f string, sch any) {
		f, sch = v.d.deref(f, sch)
		s, _ := sch.(map[string]any)
		if s == nil {
			return
		}
		for k, p := range mapOf(s["properties"]) {
			if _, dup := props[k]; !dup {
				props[k], propFile[k] = p, f
			}
		}
		for _, r := range listOf(s["required"]) {
			required = append(required, r.(string))
		}
		if ap, ok := s["additionalProperties"]; ok {
			extra = ap
		}
		for _, sub := range listOf(s["allOf"]) {
			walk(f, sub)
		}
	}
	for _, p := range parts {
		walk(file, p)
	}
	var errs []string
	for _, r := range required {
		if _, ok := obj[r]; !ok {
			errs = append(errs, fmt.Sprintf("%s: required field %q is missing", at, r))
		}
	}
	for k, x := range obj {
		p, ok := props[k]
		if !ok {
			if m, isMap := extra.(map[string]any); isMap {
				errs = append(errs, v.validate(file, m, x, at+"."+k)...)
			} else {
				errs = append(errs, fmt.Sprintf("%s: field %q is not described", at, k))
			}
			continue
		}
		errs = append(errs, v.validate(propFile[k], p, x, at+"."+k)...)
	}
	return errs
}

func hasProps(d *docs, file string, schema any) bool {
	_, s := d.deref(file, schema)
	m, _ := s.(map[string]any)
	return m["properties"] != nil
}

func listOf(v any) []any { l, _ := v.([]any); return l }

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// jsonEqual compares a YAML value with a decoded JSON one (numbers differ
// in Go type between the two).
func jsonEqual(a, b any) bool {
	if fa, ok := asFloat(a); ok {
		fb, ok := b.(float64)
		return ok && fa == fb
	}
	return a == b
}
