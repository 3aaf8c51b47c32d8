package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// viewerCatalog is the catalog of a room of the viewers and storm
// scenarios: four products, so that pins alternate.
func viewerCatalog(room string) roomBody {
	b := roomBody{Title: "loadtest " + room}
	for i := 1; i <= 4; i++ {
		b.Products = append(b.Products, roomProduct{
			ID: fmt.Sprintf("p%d", i), Name: fmt.Sprintf("Load test product %d", i),
			Price: int64(1000 * i), Currency: "USD", Image: fmt.Sprintf("/demo/img/p%d.svg", i), Stock: 1_000_000,
		})
	}
	return b
}

func (c *coordinator) roomNames() []string {
	rooms := make([]string, c.cfg.Rooms)
	for k := range rooms {
		rooms[k] = fmt.Sprintf("%s-%d", c.roomPrefix(), k)
	}
	return rooms
}

// runRooms runs the viewers and storm scenarios: rooms with one creator
// each, viewers spread over them.
func (c *coordinator) runRooms(ctx context.Context) (*Report, error) {
	r := c.newReport()
	rooms := c.roomNames()
	r.Rooms = len(rooms)
	creators, cd, err := c.setupRooms(ctx, rooms, func(k int) roomBody { return viewerCatalog(rooms[k]) })
	if err != nil {
		return nil, fmt.Errorf("setting up the rooms: %w", err)
	}
	defer cd.close()
	defer closeCreators(creators)

	c.setStage("joining")
	gs, err := c.startGroups(ctx, rooms, "")
	if err != nil {
		return nil, err
	}
	ok := true
	if err := c.waitGroups(ctx, gs, phaseReady); err != nil {
		stageFailure(r, "joining", err)
		ok = false
	}

	// Publishing: one goroutine per creator, until stopPub is closed.
	stopPub := make(chan struct{})
	var pubWG sync.WaitGroup
	pubStart := time.Now()
	if ok {
		c.setStage("publishing")
		for _, cr := range creators {
			pubWG.Add(1)
			go func() {
				defer pubWG.Done()
				cr.publish(ctx, c.cfg.Rate, stopPub)
			}()
		}
	}
	stopPublishing := func() time.Duration {
		close(stopPub)
		pubWG.Wait()
		return time.Since(pubStart)
	}

	var publishFor time.Duration
	if c.cfg.Scenario == scenarioStorm {
		publishFor = c.storm(ctx, r, gs, ok, stopPublishing)
	} else {
		if ok && !sleepCtx(ctx, c.cfg.Duration) {
			stageFailure(r, "publishing", ctx.Err())
		}
		publishFor = stopPublishing()
	}

	// Every event published is back at its creator (or lost): the room's
	// last seq is then the creator's, and viewers must reach it.
	settleCtx, cancel := context.WithTimeout(context.Background(), c.cfg.Drain)
	var swg sync.WaitGroup
	for _, cr := range creators {
		swg.Add(1)
		go func() { defer swg.Done(); cr.settle(settleCtx) }()
	}
	swg.Wait()
	cancel()
	for k, cr := range creators {
		for _, g := range gs {
			g.final(k, cr.last.Load())
		}
	}

	st, err := c.finishGroups(gs)
	if err != nil {
		r.fail("collecting the results: %v", err)
	}
	r.fill(st)
	c.stormReport(r, st)
	addCreators(r, creators, publishFor)
	if r.Connected == 0 && r.Connections > 0 {
		r.fail("no connection joined")
	}
	return r, nil
}
