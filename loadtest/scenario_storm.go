package main

import (
	"context"
	"sync"
	"time"
)

// storm runs the storm part of the storm scenario, once the viewers joined
// and the creators publish: after -duration every viewer drops at once and
// reconnects (jittered exponential backoff, join with since); it returns
// when all are back and caught up, or the deadline passed, and stops the
// publishing.
func (c *coordinator) storm(ctx context.Context, r *Report, gs []group, ok bool, stopPublishing func() time.Duration) time.Duration {
	if !ok {
		return stopPublishing()
	}
	c.setStage("steady")
	if !sleepCtx(ctx, c.cfg.Duration) {
		stageFailure(r, "waiting for the storm", ctx.Err())
		return stopPublishing()
	}
	c.setStage("storm")
	c.dropNano = time.Now().UnixNano()
	var wg sync.WaitGroup
	for _, g := range gs {
		wg.Add(1)
		go func() { defer wg.Done(); g.drop(c.dropNano) }()
	}
	wg.Wait()
	c.setStage("recovering")
	if err := c.waitGroups(ctx, gs, phaseRecovered); err != nil {
		stageFailure(r, "recovering", err)
	}
	return stopPublishing()
}

// stormReport adds the storm's own figures once the groups finished.
func (c *coordinator) stormReport(r *Report, st *Stats) {
	if c.dropNano == 0 {
		return
	}
	if st.LastRecoveredNano > c.dropNano {
		r.RecoverAllMS = float64(st.LastRecoveredNano-c.dropNano) / 1e6
	}
	if st.Recovered < st.Dropped {
		r.fail("%d of %d viewers did not come back and catch up", st.Dropped-st.Recovered, st.Dropped)
	}
}
