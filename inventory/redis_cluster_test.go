package inventory_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/liveserver/liveserver/internal/redistest"
	"github.com/liveserver/liveserver/internal/rkeys"
	"github.com/liveserver/liveserver/internal/testutil"
	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// The store's contract holds on a Redis Cluster: every script is one
// command on its room's slot (a cross-slot one would answer CROSSSLOT).
func TestRedisClusterStoreContract(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	rdb := c.Client()
	runContract(t, func(t *testing.T) inventory.Store {
		s := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: uniquePrefix()})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// On a 3-master cluster, with a room on each master and three stores
// (nodes): the room's events arrive on its shard channel (SSUBSCRIBE), a
// sale moves scheduled -> live -> ended once each even though the node
// that started it is gone, and concurrent buyers on every node sell
// exactly the stock.
func TestRedisClusterRoomsOnEveryShard(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	rdb := c.Client()
	prefix := uniquePrefix()
	names := rkeys.New(prefix)
	rooms := c.IDsOnEveryMaster(names.Events)
	a := inventory.NewRedisStore(rdb, inventory.RedisConfig{KeyPrefix: prefix})
	var nodes []inventory.Store
	for range 3 {
		s := inventory.NewRedisStore(c.Client(), inventory.RedisConfig{KeyPrefix: prefix})
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}

	// A shard subscription, on the room's master, sees its events.
	for _, room := range rooms {
		ps := rdb.SSubscribe(ctx, names.Events(room))
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil { // the confirmation
			t.Fatal(err)
		}
		mustPut(t, a, room, 40)
		if err := a.Pin(ctx, room, "p1"); err != nil {
			t.Fatal(err)
		}
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil || msg.Channel != names.Events(room) {
			t.Fatalf("%s: %v %v", room, msg, err)
		}
	}

	sales := map[string]protocol.Sale{}
	for _, room := range rooms {
		s, err := a.StartSale(ctx, room, inventory.SaleSpec{Product: "p1", Price: 1, Quantity: 30, PerUserLimit: 1, DurationMS: 20000, StartsInMS: 300})
		if err != nil {
			t.Fatal(err)
		}
		sales[room] = s
	}
	a.Close() // the other nodes move its sales from the shared index

	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]map[string]int{}
	for _, room := range rooms {
		counts[room] = map[string]int{}
	}
	for _, room := range rooms {
		testutil.Eventually(t, room+": the sale is live", func() bool {
			snap, err := nodes[0].Snapshot(ctx, room)
			return err == nil && snap.Sale != nil && snap.Sale.State == protocol.SaleLive
		})
		for i := range 90 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := nodes[i%3].Buy(ctx, inventory.BuyRequest{Room: room, User: fmt.Sprintf("u%d", i), ID: "x", Product: "p1", Qty: 1})
				mu.Lock()
				counts[room][code(err)]++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for _, room := range rooms {
		// 30 in the sale, which then ends sold out, and the 10 left at
		// the list price.
		if counts[room][""] != 40 {
			t.Fatalf("%s: outcomes %v, want 40 ok (the stock)", room, counts[room])
		}
		inSale := 0
		orders := allOrders(t, nodes[1], room)
		for _, o := range orders {
			if o.Sale != nil {
				inSale++
			}
		}
		if len(orders) != 40 || inSale != 30 {
			t.Fatalf("%s: %d orders, %d in the sale, want 40 and 30", room, len(orders), inSale)
		}
		testutil.EventuallyNil(t, room+": the sale ends", func() error {
			snap, err := nodes[2].Snapshot(ctx, room)
			if err == nil && snap.Sale != nil {
				err = fmt.Errorf("sale still %s", snap.Sale.State)
			}
			return err
		})
		var states []string
		for _, env := range roomEvents(t, nodes[2], room) {
			var ev protocol.Event
			if err := json.Unmarshal(env.Msg, &ev); err == nil && ev.Type == protocol.TypeSale {
				states = append(states, ev.Sale.State)
			}
		}
		// Sold out before its end: it ends then, once.
		if fmt.Sprint(states) != "[scheduled live ended]" {
			t.Fatalf("%s: sale events %v, want scheduled, live, ended once each", room, states)
		}
	}
}
