package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/liveserver/liveserver/client"
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

// node is the client package's view of one node's HTTP API, acting with
// token. The tester speaks only the protocol: its HTTP calls go through
// the same client backends use (package client), so that client is
// exercised by every load test and by the tester's end-to-end tests.
func (a *api) node(base, token string) *client.Client {
	return &client.Client{BaseURL: base, Token: token, HTTP: a.hc}
}

// roomBody and roomProduct are the body of PUT /api/rooms/{room}.
type (
	roomBody    = client.RoomSpec
	roomProduct = client.ProductSpec
)

func (a *api) putRoom(ctx context.Context, base, token, room string, body roomBody) error {
	_, _, err := a.node(base, token).PutRoom(ctx, room, body)
	return err
}

func (a *api) getRoom(ctx context.Context, base, room string) (*protocol.Snapshot, error) {
	return a.node(base, "").Room(ctx, room)
}

// orders lists every order of a room, page after page (client.AllOrders
// also stops at a cursor that comes back).
func (a *api) orders(ctx context.Context, base, token, room string) ([]order, error) {
	var all []order
	for o, err := range a.node(base, token).AllOrders(ctx, room, 1000) {
		if err != nil {
			return all, err
		}
		all = append(all, order{Order: o.Order, User: o.User, Product: o.Product, Qty: o.Qty, Price: o.Price, Sale: o.Sale, Auction: o.Auction, At: o.At})
	}
	return all, nil
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
	tok, err := t.api.node(base, "").DevToken(ctx, sub, role, rooms)
	if err != nil {
		return "", fmt.Errorf("POST /dev/token: %w", err)
	}
	return tok, nil
}
