package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/liveserver/liveserver/client"
)

// The README's example: a creator's backend sets up a room, pins a product,
// buys for a user and reads the order log.
func ExampleClient() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", "creator-jwt")
	if _, _, err := c.PutRoom(ctx, "spring", client.RoomSpec{Title: "Spring drop", Products: []client.ProductSpec{
		{ID: "tote", Name: "Tote", Price: 1999, Currency: "USD", Image: "/demo/img/tote.svg", Stock: 10},
	}}); err != nil {
		log.Fatal(err)
	}
	if err := c.Pin(ctx, "spring", "tote"); err != nil {
		log.Fatal(err)
	}
	res, err := c.WithToken("buyer-jwt").Buy(ctx, "spring", client.Purchase{ID: "order-key-1", Product: "tote"})
	switch client.Code(err) {
	case "":
		fmt.Println("order", res.Order, "at", res.Price)
	case "sold_out":
		fmt.Println("sold out")
	default:
		log.Fatal(err)
	}
	for o, err := range c.AllOrders(ctx, "spring", 1000) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(o.Order, o.User, o.Qty, o.Price)
	}
}

// A backend follows a room live: the callback sees every message after the
// state applied it.
func ExampleSubscriber() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := client.New("http://127.0.0.1:8080", "service-jwt")
	sub := c.Subscriber("spring", func(u client.Update, st *client.RoomState) {
		if u.Type == "stock" {
			fmt.Println("stock", st.Stock)
		}
	})
	go sub.Run(ctx) // returns when ctx ends or the join is refused for good
}
