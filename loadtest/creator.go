package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/liveserver/liveserver/protocol"
)

// creator is the tester's creator connection to one room: it publishes
// (pin, unpin, sale_start) and, being joined to the room itself, learns the
// seq of each event it caused. It records each request's send time before
// sending, and when the event comes back on its own subscription, matches
// it to the oldest request of the same kind (requests on one connection are
// handled in order) and reports (seq, send time) to register. Its figures
// are few, so it decodes every message in full.
type creator struct {
	room     string
	idx      int
	ws       *websocket.Conn
	ctx      context.Context // ends in close
	cancel   context.CancelFunc
	done     chan struct{} // closed when the reader ended
	register func(seq uint64, nano int64)

	mu       sync.Mutex
	waiters  map[string]chan []byte
	inflight []creatorReq
	errKinds map[string]int64
	viol     map[string]int64
	closeErr string // how the connection ended, when not by us

	products []string // catalog at join, from the snapshot
	pinned   string   // pinned product at join
	last     atomic.Uint64
	synced   chan struct{} // closed at the snapshot
	sales    chan protocol.Sale

	sent      atomic.Int64 // requests sent that should cause an event
	published atomic.Int64 // events matched to a request
	failed    atomic.Int64 // requests answered with an error
	lost      atomic.Int64 // requests whose event never came
	closing   atomic.Bool
	n         atomic.Int64
}

type creatorReq struct {
	id   string
	kind string // "pin:<product>", "unpin" or "sale"
	nano int64
}

// creatorMsg is any server message, decoded in full.
type creatorMsg struct {
	Type     string             `json:"type"`
	Room     string             `json:"room"`
	Seq      uint64             `json:"seq"`
	TS       int64              `json:"ts"`
	ID       string             `json:"id"`
	OK       bool               `json:"ok"`
	Error    *protocol.Error    `json:"error"`
	Product  json.RawMessage    `json:"product"`
	Sale     *protocol.Sale     `json:"sale"`
	Products []protocol.Product `json:"products"`
	Pinned   *protocol.Product  `json:"pinned"`
}

// connectCreator opens a creator connection and joins the room. The caller
// must call close.
func connectCreator(ctx context.Context, d *dialer, idx int, room, token string, register func(uint64, int64)) (*creator, error) {
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	ws, err := d.dial(dctx, idx, token)
	if err != nil {
		return nil, err
	}
	cctx, ccancel := context.WithCancel(context.Background())
	c := &creator{
		room: room, idx: idx, ws: ws, ctx: cctx, cancel: ccancel,
		done: make(chan struct{}), register: register,
		waiters: map[string]chan []byte{},
		synced:  make(chan struct{}),
		sales:   make(chan protocol.Sale, 16),
	}
	go c.readLoop()
	raw, err := c.request(dctx, "join", joinMessage(room, "join", nil))
	if err == nil {
		err = replyErr(raw)
	}
	if err == nil {
		select {
		case <-c.synced:
		case <-c.done:
			err = errConnLost
		case <-dctx.Done():
			err = errTimeout
		}
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *creator) readLoop() {
	defer close(c.done)
	var buf bytes.Buffer
	err := readFrames(c.ctx, c.ws, &buf, func(frame []byte) {
		now := time.Now().UnixNano()
		for _, m := range splitFrame(frame) {
			c.onMessage(m, now)
		}
	})
	c.ws.CloseNow()
	if !c.closing.Load() {
		c.mu.Lock()
		c.closeErr = closeCode(err)
		c.mu.Unlock()
	}
}

func (c *creator) violation(kind string) {
	c.mu.Lock()
	c.viol = addCounts(c.viol, map[string]int64{kind: 1})
	c.mu.Unlock()
}

func (c *creator) onMessage(raw []byte, now int64) {
	var m creatorMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		c.violation("undecodable_message")
		return
	}
	switch m.Type {
	case protocol.TypeReply, protocol.TypePong:
		if m.Type == protocol.TypeReply && !m.OK {
			c.failedRequest(m.ID, m.Error)
		}
		c.mu.Lock()
		ch := c.waiters[m.ID]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- bytes.Clone(raw):
			default:
			}
		}
	case protocol.TypeSnapshot:
		if m.Room != c.room {
			c.violation("snapshot_for_other_room")
			return
		}
		c.last.Store(m.Seq)
		select {
		case <-c.synced: // a later snapshot only moves the seq
		default:
			for _, p := range m.Products {
				c.products = append(c.products, p.ID)
			}
			if m.Pinned != nil {
				c.pinned = m.Pinned.ID
			}
			close(c.synced)
		}
	case protocol.TypePinned, protocol.TypeUnpinned, protocol.TypeSale, protocol.TypeCatalog:
		if m.Room != c.room {
			c.violation("event_for_other_room")
			return
		}
		if last := c.last.Load(); m.Seq != last+1 {
			c.violation("seq_gap")
		}
		c.last.Store(m.Seq)
		kind := ""
		switch m.Type {
		case protocol.TypePinned:
			var p protocol.Product
			if json.Unmarshal(m.Product, &p) != nil || p.ID == "" {
				c.violation("pinned_without_product_object")
			}
			kind = "pin:" + p.ID
		case protocol.TypeUnpinned:
			kind = "unpin"
		case protocol.TypeSale:
			if m.Sale != nil {
				select {
				case c.sales <- *m.Sale:
				default:
				}
				if m.Sale.State == protocol.SaleScheduled || m.Sale.State == protocol.SaleLive {
					kind = "sale"
				}
			} else {
				c.violation("sale_event_without_sale")
			}
		}
		if kind == "" {
			return
		}
		if nano, ok := c.match(kind); ok {
			c.published.Add(1)
			if c.register != nil {
				c.register(m.Seq, nano)
			}
		}
	case protocol.TypeError:
		c.mu.Lock()
		code := "server_error"
		if m.Error != nil {
			code += "_" + m.Error.Code
		}
		c.errKinds = addCounts(c.errKinds, map[string]int64{code: 1})
		c.mu.Unlock()
	}
}

// match pops the oldest in-flight request of kind. Older requests of other
// kinds whose event should have come first are lost.
func (c *creator) match(kind string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.inflight {
		if r.kind == kind {
			c.lost.Add(int64(i))
			c.inflight = c.inflight[i+1:]
			return r.nano, true
		}
	}
	return 0, false
}

func (c *creator) failedRequest(id string, e *protocol.Error) {
	code := "no_code"
	if e != nil && e.Code != "" {
		code = e.Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.inflight {
		if r.id == id {
			c.inflight = append(c.inflight[:i:i], c.inflight[i+1:]...)
			c.failed.Add(1)
			c.errKinds = addCounts(c.errKinds, map[string]int64{"publish_" + code: 1})
			return
		}
	}
}

// request sends a message and waits for the reply with its id.
func (c *creator) request(ctx context.Context, id string, msg []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.waiters[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
	}()
	if err := c.ws.Write(c.ctx, websocket.MessageText, msg); err != nil {
		return nil, errConnLost
	}
	select {
	case raw := <-ch:
		return raw, nil
	case <-c.done:
		return nil, errConnLost
	case <-ctx.Done():
		return nil, errTimeout
	}
}

// send records an event-causing request as in flight and sends it.
func (c *creator) send(kind string, msg map[string]any) error {
	id := "c" + strconv.FormatInt(c.n.Add(1), 10)
	msg["id"] = id
	msg["room"] = c.room
	b, _ := json.Marshal(msg)
	c.mu.Lock()
	c.inflight = append(c.inflight, creatorReq{id: id, kind: kind, nano: time.Now().UnixNano()})
	c.mu.Unlock()
	c.sent.Add(1)
	return c.ws.Write(c.ctx, websocket.MessageText, b)
}

// publish pins catalog products in turn (pin and unpin in turn when the
// catalog has one product) at rate per second until stop is closed or ctx
// ends.
func (c *creator) publish(ctx context.Context, rate float64, stop <-chan struct{}) {
	if rate <= 0 || len(c.products) == 0 {
		return
	}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	k := 0
	if len(c.products) > 1 && c.pinned == c.products[0] {
		k = 1 // pinning the pinned product may cause no event
	}
	pinnedNow := c.pinned != ""
	for {
		var err error
		switch {
		case len(c.products) > 1:
			p := c.products[k%len(c.products)]
			err = c.send("pin:"+p, map[string]any{"type": protocol.TypePin, "product": p})
		case pinnedNow:
			err = c.send("unpin", map[string]any{"type": protocol.TypeUnpin})
			pinnedNow = false
		default:
			p := c.products[0]
			err = c.send("pin:"+p, map[string]any{"type": protocol.TypePin, "product": p})
			pinnedNow = true
		}
		if err != nil {
			return
		}
		k++
		// A fixed schedule: a late send is followed by the next on time,
		// but never by a burst to catch up.
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.done:
			t.Stop()
			return
		}
	}
}

// settle waits until every in-flight request got its event or an error,
// at most until ctx ends; it returns how many are still in flight, which
// then count as lost.
func (c *creator) settle(ctx context.Context) int {
	for {
		c.mu.Lock()
		n := len(c.inflight)
		c.mu.Unlock()
		if n == 0 || !sleepCtx(ctx, 10*time.Millisecond) {
			if n > 0 {
				c.mu.Lock()
				c.lost.Add(int64(len(c.inflight)))
				c.inflight = nil
				c.mu.Unlock()
			}
			return n
		}
		select {
		case <-c.done:
			c.mu.Lock()
			n = len(c.inflight)
			c.lost.Add(int64(n))
			c.inflight = nil
			c.mu.Unlock()
			return n
		default:
		}
	}
}

// startSale schedules a sale and returns it as the server announced it:
// from the reply when it carries the sale, else from the sale event.
func (c *creator) startSale(ctx context.Context, product string, price, quantity, perUser int64, duration, startsIn time.Duration) (protocol.Sale, error) {
	id := "sale-start"
	msg, _ := json.Marshal(map[string]any{
		"type": protocol.TypeSaleStart, "id": id, "room": c.room, "product": product,
		"price": price, "quantity": quantity, "per_user_limit": perUser,
		"duration_ms": duration.Milliseconds(), "starts_in_ms": startsIn.Milliseconds(),
	})
	c.mu.Lock()
	c.inflight = append(c.inflight, creatorReq{id: id, kind: "sale", nano: time.Now().UnixNano()})
	c.mu.Unlock()
	raw, err := c.request(ctx, id, msg)
	if err != nil {
		return protocol.Sale{}, err
	}
	if err := replyErr(raw); err != nil {
		return protocol.Sale{}, err
	}
	var r struct {
		Sale *protocol.Sale `json:"sale"`
	}
	if json.Unmarshal(raw, &r) == nil && r.Sale != nil && r.Sale.StartsAt != 0 {
		return *r.Sale, nil
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		select {
		case s := <-c.sales:
			if s.Product == product && s.State != protocol.SaleEnded {
				return s, nil
			}
		case <-wait.Done():
			return protocol.Sale{}, errors.New("sale_start: no sale in the reply and no sale event")
		}
	}
}

// figures returns the creator's error counts and protocol violations.
func (c *creator) figures() (errs, viol map[string]int64, closed string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return addCounts(nil, c.errKinds), addCounts(nil, c.viol), c.closeErr
}

func (c *creator) close() {
	c.closing.Store(true)
	closed := make(chan struct{})
	go func() {
		c.ws.Close(websocket.StatusNormalClosure, "")
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
	}
	c.cancel()
	<-c.done
	<-closed
}
