package inventory_test

import (
	"testing"

	"github.com/liveserver/liveserver/inventory"
)

// DeleteRoom removes the room's state at once, keeps its orders readable,
// and a room created again under the id starts afresh but continues the
// order log.
func testDeleteRoom(t *testing.T, s inventory.Store) {
	mustPut(t, s, "r", 5, 5)
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r", User: "u", ID: "1", Product: "p1", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "r", "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartSale(ctx, "r", inventory.SaleSpec{Product: "p2", Price: 1, Quantity: 1, PerUserLimit: 1, DurationMS: 60000}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoom(ctx, "r"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	wantCode(t, s.DeleteRoom(ctx, "r"), "not_found")
	_, err := s.Snapshot(ctx, "r")
	wantCode(t, err, "not_found")
	_, _, err = s.Since(ctx, "r", 0)
	wantCode(t, err, "not_found")
	wantCode(t, s.Pin(ctx, "r", "p1"), "not_found")
	_, err = s.StopSale(ctx, "r")
	wantCode(t, err, "not_found")
	_, err = s.Buy(ctx, inventory.BuyRequest{Room: "r", User: "u", ID: "2", Product: "p1", Qty: 1})
	wantCode(t, err, "not_found")
	orders, _, err := s.Orders(ctx, "r", "", 10)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders of the deleted room: %v %v", orders, err)
	}
	_, _, err = s.Orders(ctx, "never", "", 10)
	wantCode(t, err, "not_found")

	created, err := s.PutRoom(ctx, "r", inventory.RoomSpec{Title: "again", Products: []inventory.ProductSpec{{ID: "p1", Name: "P", Price: 1, Currency: "USD", Stock: 1}}})
	if err != nil || !created {
		t.Fatalf("PutRoom after delete: created %v, %v", created, err)
	}
	snap, err := s.Snapshot(ctx, "r")
	if err != nil || snap.Seq != 0 || snap.Pinned != nil || snap.Sale != nil || len(snap.Products) != 1 {
		t.Fatalf("the room created again: %+v %v", snap, err)
	}
	if _, err := s.Buy(ctx, inventory.BuyRequest{Room: "r", User: "u", ID: "3", Product: "p1", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	orders, _, err = s.Orders(ctx, "r", "", 10)
	if err != nil || len(orders) != 2 {
		t.Fatalf("orders after the room came back: %v %v", orders, err)
	}
}
