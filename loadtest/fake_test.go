package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/liveserver/liveserver/protocol"
)

// fakeServer is a deliberately faulty node, just enough of the protocol to
// show that the tester catches what it must: it can skip a seq or sell
// more than its stock. It keeps no events, so a join with since gets a
// snapshot (which the protocol allows).
type fakeServer struct {
	skipSeq  uint64 // the event that would get this seq gets the next one
	oversell int64  // units sold beyond the stock

	mu    sync.Mutex
	rooms map[string]*fakeRoom
}

type fakeRoom struct {
	seq      uint64
	products []protocol.Product
	sale     *protocol.Sale
	orders   []order
	subs     map[*fakeConn]bool
}

type fakeConn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *fakeConn) send(v any) {
	b, _ := json.Marshal(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.Write(context.Background(), websocket.MessageText, b)
}

func startFake(tb testing.TB, f *fakeServer) string {
	tb.Helper()
	f.rooms = map[string]*fakeRoom{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dev/token", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"token": "fake"})
	})
	mux.HandleFunc("PUT /api/rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		var b roomBody
		json.NewDecoder(r.Body).Decode(&b)
		rm := &fakeRoom{subs: map[*fakeConn]bool{}}
		for _, p := range b.Products {
			rm.products = append(rm.products, protocol.Product{ID: p.ID, Name: p.Name, Price: p.Price, Currency: p.Currency, Remaining: p.Stock})
		}
		f.mu.Lock()
		f.rooms[r.PathValue("room")] = rm
		f.mu.Unlock()
		w.Write([]byte(`{}`))
	})
	mux.HandleFunc("GET /api/rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(f.snapshotLocked(r.PathValue("room")))
	})
	mux.HandleFunc("GET /api/rooms/{room}/orders", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"orders": f.rooms[r.PathValue("room")].orders, "next": nil})
	})
	mux.HandleFunc("GET /ws", f.serveWS)
	ts := httptest.NewServer(mux)
	tb.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

func (f *fakeServer) snapshotLocked(room string) protocol.Snapshot {
	rm := f.rooms[room]
	s := protocol.Snapshot{Type: protocol.TypeSnapshot, Room: room, Seq: rm.seq, TS: time.Now().UnixMilli(), Products: rm.products}
	if rm.sale != nil && rm.products[0].Remaining > -f.oversell {
		s.Sale = rm.sale
	}
	return s
}

// eventLocked numbers and broadcasts an event of room.
func (f *fakeServer) eventLocked(room string, ev map[string]any) {
	rm := f.rooms[room]
	rm.seq++
	if rm.seq == f.skipSeq {
		rm.seq++
	}
	ev["room"], ev["seq"], ev["ts"] = room, rm.seq, time.Now().UnixMilli()
	for c := range rm.subs {
		c.send(ev)
	}
}

func (f *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws}
	defer func() {
		f.mu.Lock()
		for _, rm := range f.rooms {
			delete(rm.subs, c)
		}
		f.mu.Unlock()
		ws.CloseNow()
	}()
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		var m struct {
			Type, ID, Room, Product string
			Quantity                int64
			StartsInMS              int64 `json:"starts_in_ms"`
			DurationMS              int64 `json:"duration_ms"`
			PerUserLimit            int64 `json:"per_user_limit"`
			Price                   int64
		}
		json.Unmarshal(data, &m)
		now := time.Now().UnixMilli()
		reply := map[string]any{"type": "reply", "id": m.ID, "ok": true, "ts": now}
		f.mu.Lock()
		rm := f.rooms[m.Room]
		switch m.Type {
		case "ping":
			c.send(map[string]any{"type": "pong", "id": m.ID, "ts": now})
		case "join":
			c.send(reply)
			c.send(f.snapshotLocked(m.Room))
			rm.subs[c] = true
		case "pin":
			c.send(reply)
			for _, p := range rm.products {
				if p.ID == m.Product {
					f.eventLocked(m.Room, map[string]any{"type": "pinned", "product": p})
				}
			}
		case "sale_start":
			rm.sale = &protocol.Sale{ID: uuid.NewString(), Product: m.Product, Price: m.Price, Quantity: m.Quantity,
				PerUserLimit: m.PerUserLimit, StartsAt: now + m.StartsInMS, EndsAt: now + m.StartsInMS + m.DurationMS, State: "scheduled"}
			reply["sale"] = rm.sale
			c.send(reply)
			f.eventLocked(m.Room, map[string]any{"type": "sale", "sale": rm.sale})
		case "buy":
			p := &rm.products[0]
			switch {
			case now < rm.sale.StartsAt:
				c.send(map[string]any{"type": "reply", "id": m.ID, "ok": false, "ts": now, "error": map[string]string{"code": "sale_not_live", "message": "later"}})
			case p.Remaining <= -f.oversell:
				c.send(map[string]any{"type": "reply", "id": m.ID, "ok": false, "ts": now, "error": map[string]string{"code": "sold_out", "message": "gone"}})
			default:
				p.Remaining--
				o := order{Order: uuid.NewString(), User: uuid.NewString(), Product: p.ID, Qty: 1, Price: rm.sale.Price, Sale: &rm.sale.ID, At: now}
				rm.orders = append(rm.orders, o)
				reply["order"], reply["remaining"] = o.Order, p.Remaining
				c.send(reply)
			}
		}
		f.mu.Unlock()
	}
}

// TestE2EDetectsGap runs the viewers scenario against a node that skips
// seq 3: every viewer must see the gap, resync, and the run must fail.
func TestE2EDetectsGap(t *testing.T) {
	url := startFake(t, &fakeServer{skipSeq: 3})
	code, r, out := runLoadtest(t, "-scenario", "viewers", "-url", url, "-rooms", "1", "-viewers", "5", "-rate", "20", "-duration", "500ms")
	checkNoLeaks(t)
	if code != 1 || r == nil || r.Verdict != "FAIL" {
		t.Fatalf("exit %d, want 1 (gaps SLO)\n%s", code, out)
	}
	if r.Gaps != 5 || r.GapEvents != 5 || r.Resyncs != 5 {
		t.Errorf("gaps %d (%d events), resyncs %d; want 5, 5, 5 (one per viewer)", r.Gaps, r.GapEvents, r.Resyncs)
	}
	if r.Missing != 0 {
		t.Errorf("missing %d: the resync's snapshot should have caught every viewer up", r.Missing)
	}
	if r.Violations["creator_seq_gap"] != 1 {
		t.Errorf("violations %v: the creator saw the gap too", r.Violations)
	}
	if len(r.SLO) == 0 || r.SLO[0].Name != "gaps" || r.SLO[0].OK {
		t.Errorf("slo %+v", r.SLO)
	}
	if !strings.Contains(out, "slo gaps") || !strings.Contains(out, "BROKEN") {
		t.Errorf("the table does not show the broken SLO:\n%s", out)
	}
}

// TestE2EDetectsOversell runs the flash sale against a node that sells two
// units more than its stock.
func TestE2EDetectsOversell(t *testing.T) {
	url := startFake(t, &fakeServer{oversell: 2})
	code, r, out := runLoadtest(t, "-scenario", "flashsale", "-url", url, "-buyers", "20", "-stock", "5", "-starts-in", "500ms")
	checkNoLeaks(t)
	if code != 1 || r == nil || r.Verdict != "FAIL" {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if r.Orders != 7 || r.Oversold != 2 || r.Flash == nil || r.Flash.Verdict != "FAIL" {
		t.Fatalf("orders %d oversold %d flash %+v", r.Orders, r.Oversold, r.Flash)
	}
	if !strings.Contains(strings.Join(r.Failures, "\n"), "oversold") {
		t.Errorf("failures %q", r.Failures)
	}
	// Allowing two oversold units, the same sale passes: the order list,
	// the acknowledgements and every node's remaining (-2) agree.
	code, r, out = runLoadtest(t, "-scenario", "flashsale", "-url", url, "-buyers", "20", "-stock", "5", "-starts-in", "500ms", "-slo-oversold", "2")
	checkNoLeaks(t)
	if code != 0 || r == nil || r.Oversold != 2 || r.Flash.Remaining[strings.Replace(url, "ws", "http", 1)] != -2 {
		t.Fatalf("-slo-oversold 2: exit %d, want 0\n%s", code, out)
	}
}
