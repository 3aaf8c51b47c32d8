// Package client is a Go client of liveserver for backends: the HTTP API
// (create and replace rooms, pin, flash sales, purchases with an
// idempotency key, the order log page by page) and a WebSocket Subscriber
// that keeps one room's state up to date across gaps and reconnects.
//
// It speaks only the wire protocol (docs/PROTOCOL.md): it imports the
// protocol package for the message types and nothing else of the server, so
// it works against any node of any version that speaks protocol version 1.
// Its only dependency beyond the standard library is coder/websocket.
//
//	c := client.New("http://127.0.0.1:8080", creatorToken)
//	_, _, err := c.PutRoom(ctx, "spring", client.RoomSpec{Title: "Spring drop", Products: []client.ProductSpec{
//		{ID: "tote", Name: "Tote", Price: 1999, Currency: "USD", Image: "/demo/img/tote.svg", Stock: 10},
//	}})
//	err = c.Pin(ctx, "spring", "tote")
//	res, err := c.WithToken(viewerToken).Buy(ctx, "spring", client.Purchase{ID: "buy-1", Product: "tote"})
//	for o, err := range c.AllOrders(ctx, "spring", 1000) { ... }
//
// Errors the server answers are *Error values carrying the protocol code
// (errors.As, or client.Code(err)).
package client
