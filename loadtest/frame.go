package main

import "bytes"

// The tester reads every message a node sends, so the per-message work is a
// few bytes.Index calls: it never decodes a broadcast, only the rare
// messages it needs in full (reply, snapshot, pong, error).
//
// Field extraction looks for `"key":` anywhere in the message. That is safe
// for the protocol's messages: a JSON string cannot hold an unescaped quote,
// so the pattern only matches a real key, and no nested object of the
// protocol (product, sale) has a "type", "room", "seq" or "id" key.

var (
	keyType = []byte(`"type"`)
	keyRoom = []byte(`"room"`)
	keySeq  = []byte(`"seq"`)
	keyID   = []byte(`"id"`)
)

// nextMessage splits the first message off a server frame, which holds one
// message or several separated by '\n'. It skips empty lines; msg is empty
// only when the frame holds no more messages.
func nextMessage(frame []byte) (msg, rest []byte) {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		if i < 0 {
			msg, frame = frame, nil
		} else {
			msg, frame = frame[:i], frame[i+1:]
		}
		if msg = bytes.TrimSpace(msg); len(msg) > 0 {
			return msg, frame
		}
	}
	return nil, nil
}

// splitFrame returns every message of a frame; for tests and rare paths.
func splitFrame(frame []byte) [][]byte {
	var out [][]byte
	for {
		var m []byte
		m, frame = nextMessage(frame)
		if len(m) == 0 {
			return out
		}
		out = append(out, m)
	}
}

// msgFields are the fields read from every message.
type msgFields struct {
	typ    []byte // aliases the message
	room   []byte // aliases the message; nil when absent
	seq    uint64
	hasSeq bool
}

func scanFields(msg []byte) msgFields {
	var f msgFields
	// The server writes "type" first and "room" next: read them there
	// (the tester parses every message it gets, on the cores it measures),
	// else look for them anywhere.
	if rest, ok := bytes.CutPrefix(msg, headType); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			f.typ = rest[:i]
			if r, ok := bytes.CutPrefix(rest[i+1:], headRoom); ok {
				if j := bytes.IndexByte(r, '"'); j >= 0 && bytes.IndexByte(r[:j], '\\') < 0 {
					f.room = r[:j]
				}
			}
		}
	}
	if f.typ == nil {
		f.typ, _ = rawField(msg, keyType)
	}
	if f.room == nil {
		f.room, _ = rawField(msg, keyRoom)
	}
	if unsequenced[string(f.typ)] {
		return f // no seq to look for through the whole message
	}
	if v, ok := rawField(msg, keySeq); ok {
		f.seq, f.hasSeq = parseUint(v)
	}
	return f
}

var (
	headType = []byte(`{"type":"`)
	headRoom = []byte(`,"room":"`)
	// unsequenced are the message types that never carry a seq (volatile
	// messages, replies, pongs and errors).
	unsequenced = map[string]bool{"stock": true, "viewers": true, "purchase": true, "comment": true,
		"reactions": true, "chat_mode": true, "bid": true, "reply": true, "pong": true, "error": true}
)

// rawField returns the value of the first `"key":` in msg: the contents of
// a string without its quotes (escapes are left as they are), or the literal
// of a number, true, false or null. Objects and arrays are not supported.
func rawField(msg, key []byte) ([]byte, bool) {
	off := 0
	for {
		i := bytes.Index(msg[off:], key)
		if i < 0 {
			return nil, false
		}
		j := skipSpace(msg, off+i+len(key))
		off += i + len(key)
		if j >= len(msg) || msg[j] != ':' {
			continue // the key's text as a string value, not a key
		}
		j = skipSpace(msg, j+1)
		if j >= len(msg) {
			return nil, false
		}
		switch msg[j] {
		case '"':
			k := j + 1
			for k < len(msg) && msg[k] != '"' {
				if msg[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(msg) {
				return nil, false
			}
			return msg[j+1 : k], true
		case '{', '[':
			return nil, false
		}
		k := j
		for k < len(msg) && msg[k] != ',' && msg[k] != '}' && !isSpace(msg[k]) {
			k++
		}
		return msg[j:k], k > j
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseUint parses a JSON non-negative integer literal.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
