package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/liveserver/liveserver/protocol"
)

// api calls the HTTP API of the nodes. Safe for concurrent use.
type api struct {
	hc *http.Client
}

// newAPI returns a client that keeps few connections per node, so that
// fetching thousands of tokens costs few file descriptors. The caller must
// call close.
func newAPI() *api {
	return &api{hc: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxConnsPerHost:     32,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		},
	}}
}

func (a *api) close() { a.hc.CloseIdleConnections() }

// apiError is an HTTP error answer of the API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// do sends a JSON request and decodes a JSON answer into out (when not nil).
func (a *api) do(ctx context.Context, method, u, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error protocol.Error `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, u, err)
	}
	return nil
}

// roomBody is the body of PUT /api/rooms/{room}.
type roomBody struct {
	Title    string        `json:"title"`
	Products []roomProduct `json:"products"`
}

type roomProduct struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	Image    string `json:"image"`
	Stock    int64  `json:"stock"`
}

func (a *api) putRoom(ctx context.Context, base, token, room string, body roomBody) error {
	return a.do(ctx, http.MethodPut, base+"/api/rooms/"+url.PathEscape(room), token, body, nil)
}

func (a *api) getRoom(ctx context.Context, base, room string) (*protocol.Snapshot, error) {
	var s protocol.Snapshot
	if err := a.do(ctx, http.MethodGet, base+"/api/rooms/"+url.PathEscape(room), "", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// orders lists every order of a room, page after page.
func (a *api) orders(ctx context.Context, base, token, room string) ([]order, error) {
	var all []order
	after := ""
	seenCursor := map[string]bool{}
	for page := 0; ; page++ {
		if page > 100000 {
			return all, errors.New("orders: too many pages")
		}
		q := url.Values{"limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		var res struct {
			Orders []order `json:"orders"`
			Next   *string `json:"next"`
		}
		u := base + "/api/rooms/" + url.PathEscape(room) + "/orders?" + q.Encode()
		if err := a.do(ctx, http.MethodGet, u, token, nil, &res); err != nil {
			return all, err
		}
		all = append(all, res.Orders...)
		if res.Next == nil || *res.Next == "" {
			return all, nil
		}
		if seenCursor[*res.Next] {
			return all, fmt.Errorf("orders: the cursor %q came back twice", *res.Next)
		}
		seenCursor[*res.Next] = true
		after = *res.Next
	}
}

// tokens gives the tester's connections their tokens: minted with the
// secret when there is one, else asked of the node (POST /dev/token,
// development mode).
type tokens struct {
	secret []byte
	api    *api
	ttl    time.Duration
}

func (t *tokens) get(ctx context.Context, base, sub, role string, rooms []string) (string, error) {
	if len(t.secret) > 0 {
		claims := jwt.MapClaims{
			"sub":  sub,
			"role": role,
			"exp":  time.Now().Add(t.ttl).Unix(),
		}
		if rooms != nil {
			claims["rooms"] = rooms
		}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	}
	body := map[string]any{"sub": sub, "role": role}
	if rooms != nil {
		body["rooms"] = rooms
	}
	var res struct {
		Token string `json:"token"`
	}
	if err := t.api.do(ctx, http.MethodPost, base+"/dev/token", "", body, &res); err != nil {
		return "", fmt.Errorf("POST /dev/token: %w", err)
	}
	if res.Token == "" {
		return "", errors.New("POST /dev/token: no token in the answer")
	}
	return res.Token, nil
}
