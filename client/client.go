package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// Client calls a node's HTTP API. It is safe for concurrent use; its
// fields must not change once it is in use (WithToken makes a copy).
type Client struct {
	// BaseURL is the node's http:// or https:// address, without a path.
	BaseURL string
	// Token is the Bearer token sent with every call; empty sends none
	// (an anonymous viewer in development mode).
	Token string
	// HTTP is the HTTP client; nil uses http.DefaultClient. Calls are
	// bounded by their context, so give it a deadline.
	HTTP *http.Client
	// BuyRetries is how many times Buy sends a purchase again, with the
	// same id, after an answer that took nothing (unavailable, overloaded,
	// rate_limited) or a lost answer; zero: 2, negative: never.
	BuyRetries int
	// RetryBackoff is the first pause before such a retry (doubled on each
	// up to 10 s, half of it random, and never shorter than the server's
	// retry_after_ms); zero: 200 ms.
	RetryBackoff time.Duration
}

// New returns a client of the node at baseURL (http://host:port) acting
// with token ("" for none).
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}
}

// WithToken returns a copy of c that acts with another token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.Token = token
	return &cp
}

// ProductSpec is a catalog product of PUT /api/rooms/{room}.
type ProductSpec = protocol.ProductSpec

// RoomSpec is the body of PUT /api/rooms/{room}.
type RoomSpec struct {
	Title    string        `json:"title"`
	Products []ProductSpec `json:"products"`
}

// SaleSpec is a flash sale to start (sale_start).
type SaleSpec struct {
	Product      string `json:"product"`
	Price        int64  `json:"price"`
	Quantity     int64  `json:"quantity"`
	PerUserLimit int64  `json:"per_user_limit"`
	DurationMS   int64  `json:"duration_ms"`
	StartsInMS   int64  `json:"starts_in_ms,omitempty"` // zero: live at once
}

// Purchase is a purchase to make. ID is its idempotency key: the same user
// sending the same ID again gets the first answer and never buys twice.
type Purchase struct {
	ID      string `json:"id"` // empty: Buy makes a random one
	Product string `json:"product"`
	Qty     int64  `json:"qty,omitempty"` // zero: 1
}

// PurchaseResult is a successful purchase.
type PurchaseResult struct {
	ID        string `json:"-"` // the idempotency key sent
	Order     string `json:"order"`
	Product   string `json:"product"`
	Qty       int64  `json:"qty"`
	Price     int64  `json:"price"` // unit price charged
	Remaining int64  `json:"remaining"`
}

// Order is an entry of a room's order log.
type Order = protocol.Order

// OrdersPage is one page of GET /api/rooms/{room}/orders. Next is the
// cursor of the next page ("" when this is the last).
type OrdersPage struct {
	Orders []Order
	Next   string
}

// PutRoom creates or replaces a room; it returns the room's snapshot and
// whether the room was created (201) rather than replaced (200).
func (c *Client) PutRoom(ctx context.Context, room string, spec RoomSpec) (*protocol.Snapshot, bool, error) {
	var snap protocol.Snapshot
	status, err := c.do(ctx, http.MethodPut, roomPath(room), spec, &snap)
	if err != nil {
		return nil, false, err
	}
	return &snap, status == http.StatusCreated, nil
}

// DeleteRoom deletes the room: its viewers get room_closed and leave; its
// orders stay readable until the node's order retention trims them.
func (c *Client) DeleteRoom(ctx context.Context, room string) error {
	_, err := c.do(ctx, http.MethodDelete, roomPath(room), nil, nil)
	return err
}

// Room is the room's snapshot (GET /api/rooms/{room}).
func (c *Client) Room(ctx context.Context, room string) (*protocol.Snapshot, error) {
	var snap protocol.Snapshot
	if _, err := c.do(ctx, http.MethodGet, roomPath(room), nil, &snap); err != nil {
		return nil, err
	}
	return &snap, nil
}

// Pin pins a catalog product.
func (c *Client) Pin(ctx context.Context, room, product string) error {
	_, err := c.do(ctx, http.MethodPost, roomPath(room)+"/pin", map[string]string{"product": product}, nil)
	return err
}

// Unpin clears the pin.
func (c *Client) Unpin(ctx context.Context, room string) error {
	_, err := c.do(ctx, http.MethodDelete, roomPath(room)+"/pin", nil, nil)
	return err
}

// StartSale schedules or starts a flash sale and returns it.
func (c *Client) StartSale(ctx context.Context, room string, spec SaleSpec) (*protocol.Sale, error) {
	var res struct {
		Sale *protocol.Sale `json:"sale"`
	}
	if _, err := c.do(ctx, http.MethodPost, roomPath(room)+"/sales", spec, &res); err != nil {
		return nil, err
	}
	if res.Sale == nil {
		return nil, errors.New("liveserver: POST sales: no sale in the answer")
	}
	return res.Sale, nil
}

// StopSale ends the room's sale now and returns it (state ended).
func (c *Client) StopSale(ctx context.Context, room string) (*protocol.Sale, error) {
	var res struct {
		Sale *protocol.Sale `json:"sale"`
	}
	if _, err := c.do(ctx, http.MethodDelete, roomPath(room)+"/sales/current", nil, &res); err != nil {
		return nil, err
	}
	if res.Sale == nil {
		return nil, errors.New("liveserver: DELETE sales/current: no sale in the answer")
	}
	return res.Sale, nil
}

// Buy makes a purchase. An answer that took nothing (unavailable,
// overloaded, rate_limited) or a lost answer (a network error) is retried
// up to BuyRetries times with the same ID, after a jittered pause of at
// least the server's retry_after_ms; the server's idempotency makes that
// safe. The *Error of the last answer is returned when all failed.
func (c *Client) Buy(ctx context.Context, room string, p Purchase) (*PurchaseResult, error) {
	if p.ID == "" {
		p.ID = RandomID()
	}
	retries := c.BuyRetries
	if retries == 0 {
		retries = 2
	}
	backoff := c.RetryBackoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		var res PurchaseResult
		_, err := c.do(ctx, http.MethodPost, roomPath(room)+"/purchases", p, &res)
		if err == nil {
			res.ID = p.ID
			return &res, nil
		}
		if attempt >= retries || ctx.Err() != nil {
			return nil, err
		}
		var e *Error
		wait := min(backoff<<min(attempt, 16), maxRetryPause)
		wait = wait/2 + mrand.N(wait/2+1) // equal jitter
		if errors.As(err, &e) {
			if !e.Retryable() {
				return nil, err
			}
			wait = max(wait, e.RetryAfter)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// Orders reads one page of the room's order log, oldest first: the orders
// after the order id after ("" from the start), at most limit (1 to 1000;
// zero: the server's default, 100).
func (c *Client) Orders(ctx context.Context, room, after string, limit int) (*OrdersPage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	p := roomPath(room) + "/orders"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var res struct {
		Orders []Order `json:"orders"`
		Next   *string `json:"next"`
	}
	if _, err := c.do(ctx, http.MethodGet, p, nil, &res); err != nil {
		return nil, err
	}
	page := &OrdersPage{Orders: res.Orders}
	if res.Next != nil {
		page.Next = *res.Next
	}
	return page, nil
}

// AllOrders iterates the room's whole order log, oldest first, reading
// pages of pageSize (zero: the server's default) and following next. An
// error ends the iteration (it is yielded with a zero Order), and so does a
// cursor that comes back twice, which would otherwise loop for ever.
func (c *Client) AllOrders(ctx context.Context, room string, pageSize int) iter.Seq2[Order, error] {
	return func(yield func(Order, error) bool) {
		after := ""
		seen := map[string]bool{}
		for {
			page, err := c.Orders(ctx, room, after, pageSize)
			if err != nil {
				yield(Order{}, err)
				return
			}
			for _, o := range page.Orders {
				if !yield(o, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			if seen[page.Next] {
				yield(Order{}, fmt.Errorf("liveserver: orders: the cursor %q came back twice", page.Next))
				return
			}
			seen[page.Next] = true
			after = page.Next
		}
	}
}

// DevToken asks a development-mode node for a token (POST /dev/token; 404
// on a node with a JWT secret). rooms may be nil.
func (c *Client) DevToken(ctx context.Context, sub, role string, rooms []string) (string, error) {
	body := map[string]any{"sub": sub, "role": role}
	if rooms != nil {
		body["rooms"] = rooms
	}
	var res struct {
		Token string `json:"token"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/dev/token", body, &res); err != nil {
		return "", err
	}
	if res.Token == "" {
		return "", errors.New("liveserver: POST /dev/token: no token in the answer")
	}
	return res.Token, nil
}

// maxRetryPause caps Buy's pause between two attempts (before the
// server's retry_after_ms, which may ask for more).
const maxRetryPause = 10 * time.Second

// RandomID is a random UUID (version 4), for idempotency keys.
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func roomPath(room string) string { return "/api/rooms/" + url.PathEscape(room) }

// maxAnswer bounds an answer read into memory (a page of 1000 orders is
// about 200 KB).
const maxAnswer = 16 << 20

// do sends a JSON request and decodes a 2xx JSON answer into out (when not
// nil); any other answer is an *Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("liveserver: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var w struct {
			Error wireError `json:"error"`
		}
		if json.Unmarshal(b, &w) != nil || w.Error.Code == "" {
			w.Error = wireError{Code: codeOfStatus(resp.StatusCode), Message: strings.TrimSpace(string(b))}
		}
		e := w.Error.toError(resp.StatusCode)
		if e.RetryAfter == 0 {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				e.RetryAfter = time.Duration(s) * time.Second
			}
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("liveserver: %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// codeOfStatus names an error answer without a protocol body (a proxy's
// 502, say) by its status.
func codeOfStatus(status int) string {
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return "unavailable"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusNotFound:
		return "not_found"
	case status == http.StatusUnauthorized:
		return "unauthorized"
	case status == http.StatusForbidden:
		return "forbidden"
	case status >= 400 && status < 500:
		return "bad_request"
	}
	return "internal"
}
