package server

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/liveserver/liveserver/auth"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
	"github.com/liveserver/liveserver/web/demo"
)

func mountDemo(mux *routeMux) {
	mux.Handle("GET /demo/", http.StripPrefix("/demo/", demo.Handler()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// identity authenticates an HTTP call by its Authorization header. Without
// one, development mode acts as a fresh anonymous viewer; with a secret it
// is unauthorized. A token query parameter is for GET /ws only, where a
// browser has no other way to send one on the upgrade: here it is refused,
// not ignored, so a client that sends one learns to use the header before
// its tokens collect in proxy logs.
func (s *Server) identity(r *http.Request) (auth.Identity, error) {
	if r.Header.Get("Authorization") == "" && r.URL.Query().Has("token") {
		s.metrics.authFailures.Inc()
		return auth.Identity{}, protocol.Errorf(protocol.CodeUnauthorized, "a token query parameter is accepted on GET /ws only; send Authorization: Bearer <jwt>")
	}
	tok, ok := auth.TokenFromRequest(r)
	if !ok {
		return auth.Identity{}, protocol.Errorf(protocol.CodeUnauthorized, "malformed Authorization header; use Bearer <jwt>")
	}
	if tok == "" {
		if s.verifier.DevMode() {
			return s.verifier.Anonymous(), nil
		}
		return auth.Identity{}, protocol.Errorf(protocol.CodeUnauthorized, "missing token")
	}
	id, err := s.verifier.Verify(tok)
	if err != nil {
		s.metrics.authFailures.Inc()
	}
	return id, err
}

const maxBody = 1 << 20

// readBody reads a request body of at most maxBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "reading the body: %v", err)
	}
	if len(body) > maxBody {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "body larger than %d bytes", maxBody)
	}
	return body, nil
}

// decodeBody reads a JSON object body into v.
func decodeBody(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "body is not the expected JSON object: %v", err)
	}
	return nil
}

// roomParam returns the validated {room} of the path.
func roomParam(r *http.Request) (string, error) {
	id := r.PathValue("room")
	if !protocol.ValidRoomID(id) {
		return "", protocol.Errorf(protocol.CodeBadRequest, "invalid room id: 1 to 64 characters of [A-Za-z0-9_-]")
	}
	return id, nil
}

func (s *Server) requestCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
}

// api wraps a handler that returns its answer or an error.
func (s *Server) api(w http.ResponseWriter, r *http.Request, f func(ctx context.Context, who auth.Identity, room string) (int, any, error)) {
	room, err := roomParam(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	who, err := s.identity(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if !s.allowUser(w, who) {
		return
	}
	ctx, cancel := s.requestCtx(r)
	defer cancel()
	status, v, err := f(ctx, who, room)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) handlePutRoom(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		var spec inventory.RoomSpec
		if err := decodeBody(r, &spec); err != nil {
			return 0, nil, err
		}
		created, err := s.pins.PutRoom(ctx, who, room, spec)
		if err != nil {
			return 0, nil, err
		}
		snap, err := s.snapshot(ctx, room)
		if err != nil {
			return 0, nil, err
		}
		if created {
			return http.StatusCreated, snap, nil
		}
		return http.StatusOK, snap, nil
	})
}

// snapshot is the room's snapshot with this node's viewer count.
func (s *Server) snapshot(ctx context.Context, room string) (protocol.Snapshot, error) {
	snap, err := roomSource{s.store, s.chat.store}.Snapshot(ctx, room)
	if err != nil {
		return snap, err
	}
	snap.Viewers = s.hub.Viewers(room)
	return snap, nil
}

func (s *Server) handleGetRoom(w http.ResponseWriter, r *http.Request) {
	room, err := roomParam(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	ctx, cancel := s.requestCtx(r)
	defer cancel()
	snap, err := s.snapshot(ctx, room)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// handleDeleteRoom deletes a room (its creator or an admin): 200
// {"ok":true,"room"}, like the other DELETE routes. Viewers on every node
// get room_closed; the orders stay readable until the retention.
func (s *Server) handleDeleteRoom(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		if err := s.pins.DeleteRoom(ctx, who, room); err != nil {
			return 0, nil, err
		}
		s.forgetChat(ctx, room)
		return http.StatusOK, map[string]any{"ok": true, "room": room}, nil
	})
}

func (s *Server) handlePin(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		var body struct {
			Product string `json:"product"`
		}
		if err := decodeBody(r, &body); err != nil {
			return 0, nil, err
		}
		if body.Product == "" {
			return 0, nil, protocol.Errorf(protocol.CodeBadRequest, "missing product")
		}
		if err := s.pins.Pin(ctx, who, room, body.Product); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"ok": true, "room": room, "product": body.Product}, nil
	})
}

func (s *Server) handleUnpin(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		if err := s.pins.Unpin(ctx, who, room); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"ok": true, "room": room}, nil
	})
}

// saleBody is the body of POST /api/rooms/{room}/sales, as sale_start.
type saleBody struct {
	Product      string          `json:"product"`
	Price        json.RawMessage `json:"price"`
	Quantity     json.RawMessage `json:"quantity"`
	PerUserLimit json.RawMessage `json:"per_user_limit"`
	DurationMS   json.RawMessage `json:"duration_ms"`
	StartsInMS   json.RawMessage `json:"starts_in_ms"`
}

func (s *Server) handleStartSale(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		var b saleBody
		if err := decodeBody(r, &b); err != nil {
			return 0, nil, err
		}
		if b.Product == "" {
			return 0, nil, protocol.Errorf(protocol.CodeBadRequest, "missing product")
		}
		f, err := protocol.DecodeSaleFields(b.Price, b.Quantity, b.PerUserLimit, b.DurationMS, b.StartsInMS)
		if err != nil {
			return 0, nil, err
		}
		sale, err := s.pins.StartSale(ctx, who, room, saleSpec(b.Product, f))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"sale": sale}, nil
	})
}

func saleSpec(product string, f protocol.SaleFields) inventory.SaleSpec {
	return inventory.SaleSpec{Product: product, Price: f.Price, Quantity: f.Quantity, PerUserLimit: f.PerUserLimit, DurationMS: f.DurationMS, StartsInMS: f.StartsInMS}
}

func (s *Server) handleStopSale(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		sale, err := s.pins.StopSale(ctx, who, room)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"sale": sale}, nil
	})
}

func (s *Server) handleBuy(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		body, err := readBody(r)
		if err != nil {
			return 0, nil, err
		}
		// Validated exactly as the WebSocket buy is.
		msg, err := protocol.DecodeBuyBody(room, body)
		if err != nil {
			return 0, nil, err
		}
		rec, err := s.buy(ctx, who, msg)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, rec, nil
	})
}

func (s *Server) handleOrders(w http.ResponseWriter, r *http.Request) {
	s.api(w, r, func(ctx context.Context, who auth.Identity, room string) (int, any, error) {
		if who.User == "" || !who.CanControl(room) {
			return 0, nil, protocol.Errorf(protocol.CodeForbidden, "only the room's creator or an admin may read its orders")
		}
		q := r.URL.Query()
		limit := 100
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return 0, nil, protocol.Errorf(protocol.CodeBadRequest, "limit must be an integer from 1 to 1000")
			}
			limit = n
		}
		orders, next, err := s.store.Orders(ctx, room, q.Get("after"), limit)
		if err != nil {
			return 0, nil, err
		}
		if orders == nil {
			orders = []inventory.Order{}
		}
		var nextV any
		if next != "" {
			nextV = next
		}
		return http.StatusOK, map[string]any{"orders": orders, "next": nextV}, nil
	})
}

// handleDevToken issues tokens in development mode only, and only to
// plainly local requests: a loopback Host (a site that rebinds its DNS name
// to 127.0.0.1 still sends its own name) and a JSON body (which a page of
// another origin cannot send without a CORS preflight, never granted here).
func (s *Server) handleDevToken(w http.ResponseWriter, r *http.Request) {
	if !s.verifier.DevMode() {
		s.writeError(w, protocol.Errorf(protocol.CodeNotFound, "/dev/token exists only in development mode (no JWT secret)"))
		return
	}
	if !LoopbackHost(r.Host) {
		s.writeError(w, protocol.Errorf(protocol.CodeForbidden, "/dev/token answers only requests to a loopback address (Host localhost, 127.0.0.1 or [::1])"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]any{"error": protocol.Errorf(protocol.CodeBadRequest, "/dev/token takes a JSON body: send Content-Type: application/json")})
		return
	}
	var b struct {
		Sub   string   `json:"sub"`
		Role  string   `json:"role"`
		Rooms []string `json:"rooms"`
		Name  string   `json:"name"` // a display name for the chat
	}
	if err := decodeBody(r, &b); err != nil {
		s.writeError(w, err)
		return
	}
	if b.Sub == "" {
		b.Sub = s.verifier.Anonymous().User
	}
	tok, err := s.verifier.Issue(auth.Identity{User: b.Sub, Role: b.Role, Rooms: b.Rooms, Name: b.Name}, 24*time.Hour)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// LoopbackHost reports whether hostport (a Host header or a listen
// address, with or without a port) names a loopback interface: localhost
// or a loopback IP. A name that only resolves to one does not count, nor
// does an empty host (all interfaces).
func LoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
