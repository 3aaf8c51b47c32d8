package main

import (
	"context"
	"fmt"
	"time"

	"github.com/liveserver/liveserver/protocol"
)

// The flash sale's product.
const (
	flashProduct      = "fs1"
	flashCatalogPrice = 4999
	flashSalePrice    = 999
)

// runFlashsale runs the flashsale scenario: the tester creates a room with
// one product of -stock units, connects the buyers (each joins the room and
// measures the server clock's offset with pings), schedules a sale of the
// whole stock -starts-in ahead, and every buyer sends buy at starts_at by
// the server's clock. Then it verifies the orders and the stock on every
// node.
func (c *coordinator) runFlashsale(ctx context.Context) (*Report, error) {
	r := c.newReport()
	r.Rooms = 1
	room := c.roomPrefix() + "-flash"
	cfg := c.cfg
	catalog := roomBody{Title: "loadtest flash sale", Products: []roomProduct{{
		ID: flashProduct, Name: "Flash sale item", Price: flashCatalogPrice, Currency: "USD",
		Image: "/demo/img/flash.svg", Stock: cfg.Stock,
	}}}
	creators, cd, err := c.setupRooms(ctx, []string{room}, func(int) roomBody { return catalog })
	if err != nil {
		return nil, fmt.Errorf("setting up the sale's room: %w", err)
	}
	defer cd.close()
	defer closeCreators(creators)
	cr := creators[0]

	c.setStage("joining")
	gs, err := c.startGroups(ctx, []string{room}, flashProduct)
	if err != nil {
		return nil, err
	}
	var sale protocol.Sale
	ok := true
	if err := c.waitGroups(ctx, gs, phaseReady); err != nil {
		stageFailure(r, "joining", err)
		ok = false
	}
	if ok {
		c.setStage("scheduling")
		sale, err = cr.startSale(ctx, flashProduct, flashSalePrice, cfg.Stock, cfg.PerUser, cfg.Duration, cfg.StartsIn)
		if err != nil {
			r.fail("sale_start: %v", err)
			ok = false
		}
	}
	if ok {
		c.checkSale(r, sale)
		c.setStage("buying")
		for _, g := range gs {
			g.startSale(sale.StartsAt)
		}
		// Every buyer answers within the sale, give or take retries.
		wait, cancel := context.WithDeadline(ctx, time.UnixMilli(sale.StartsAt).Add(cfg.Duration+45*time.Second))
		if err := c.waitGroups(wait, gs, phaseBought); err != nil {
			stageFailure(r, "buying", err)
		}
		cancel()
	}
	st, err := c.finishGroups(gs)
	if err != nil {
		r.fail("collecting the results: %v", err)
	}
	r.fill(st)
	addCreators(r, creators, 0)
	if r.Connected == 0 && r.Connections > 0 {
		r.fail("no buyer joined")
	}
	if !ok {
		return r, nil
	}

	c.setStage("verifying")
	vctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	flash := c.verifyFlash(vctx, room, sale, st)
	r.Flash = &flash
	r.Orders = flash.Orders
	r.Oversold = flash.Oversold
	for _, f := range flash.Failures {
		r.fail("flash sale: %s", f)
	}
	return r, nil
}

// checkSale notes a sale announced with other terms than asked.
func (c *coordinator) checkSale(r *Report, s protocol.Sale) {
	cfg := c.cfg
	if s.Product != flashProduct || s.Quantity != cfg.Stock || s.PerUserLimit != cfg.PerUser || s.Price != flashSalePrice {
		r.Violations["sale_terms_differ"]++
		r.Errors++
	}
	if s.EndsAt-s.StartsAt != cfg.Duration.Milliseconds() {
		r.Violations["sale_duration_differs"]++
		r.Errors++
	}
}

// verifyFlash reads the orders and every node's view of the room and
// checks them against what the buyers were told.
func (c *coordinator) verifyFlash(ctx context.Context, room string, sale protocol.Sale, st *Stats) FlashResult {
	in := flashInput{
		Stock: c.cfg.Stock, PerUser: c.cfg.PerUser, SaleID: sale.ID, SalePrice: flashSalePrice,
		Product: flashProduct, Attempted: st.Buyers, Acked: st.OrderIDs,
		Unanswered: st.Answers["no_answer"] + st.Answers["undecodable"],
		Remaining:  map[string]int64{},
	}
	tok, err := c.creatorToken(ctx, 0, room)
	if err == nil {
		in.Orders, err = c.api.orders(ctx, c.nodes[0].HTTP, tok, room)
	}
	if err != nil {
		res := checkFlash(in, c.cfg.SLOOversold)
		res.Failures = append(res.Failures, fmt.Sprintf("listing the orders: %v", err))
		res.Verdict = "FAIL"
		return res
	}
	var units int64
	for _, o := range in.Orders {
		if o.Product == flashProduct {
			units += o.Qty
		}
	}
	want := c.cfg.Stock - units
	// Stock messages are conflated and nodes may lag a little: poll each
	// node for a few seconds before concluding.
	for _, n := range c.nodes {
		var remaining int64
		found, open := false, false
		for try := 0; try < 30; try++ {
			s, err := c.api.getRoom(ctx, n.HTTP, room)
			if err == nil {
				found, open = false, false
				for _, p := range s.Products {
					if p.ID == flashProduct {
						remaining, found = p.Remaining, true
					}
				}
				// After a sale ended, snapshot.sale is null.
				open = s.Sale != nil
				if found && remaining == want && !(units >= c.cfg.Stock && open) {
					break
				}
			}
			if !sleepCtx(ctx, 100*time.Millisecond) {
				break
			}
		}
		if !found {
			in.Unread = append(in.Unread, n.HTTP)
			continue
		}
		in.Remaining[n.HTTP] = remaining
		if units >= c.cfg.Stock && open {
			in.SaleOpen = append(in.SaleOpen, n.HTTP)
		}
	}
	return checkFlash(in, c.cfg.SLOOversold)
}
