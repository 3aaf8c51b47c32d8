package wsock

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Every batch this package writes parses with coder/websocket's reader as
// one text message holding exactly the payload, whatever its bytes and
// length (pad stretches short inputs into the 16- and 64-bit length
// classes), and whether it went at once or through Flush.
func FuzzBatchParses(f *testing.F) {
	f.Add([]byte(""), uint32(0))
	f.Add([]byte("a"), uint32(0))
	f.Add([]byte(`{"type":"pin","seq":1}`+"\n"+`{"type":"stock","n":2}`), uint32(0))
	f.Add(bytes.Repeat([]byte("x"), 125), uint32(0))
	f.Add(bytes.Repeat([]byte("x"), 125), uint32(1)) // 126: the first 16-bit length
	f.Add([]byte{0x81, 0x7f, 0xff, 0x00}, uint32(65535-4))
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8}, uint32(65536-4)) // looks like a close frame; 65536: 64-bit length
	f.Add([]byte("\xff\xfe not utf-8"), uint32(200000))
	s := newServer(f)
	ws, c := s.dial(f)
	f.Fuzz(func(t *testing.T, payload []byte, pad uint32) {
		pad %= 300000
		for i := uint32(0); i < pad; i++ {
			payload = append(payload, byte(i))
		}
		errc := make(chan error, 1)
		go func() { // a large batch waits for the reader below
			done, err := c.WriteBatch(batch(payload), false)
			if err == nil && !done {
				err = c.Flush()
			}
			errc <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		typ, got, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading a batch of %d bytes: %v", len(payload), err)
		}
		if typ != websocket.MessageText || !bytes.Equal(got, payload) {
			t.Fatalf("batch of %d bytes read as %v of %d bytes", len(payload), typ, len(got))
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}
