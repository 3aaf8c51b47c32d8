package protocol

import "encoding/json"

// fastRaw fills r from data when data is a client message in the plain form
// clients send: one object whose keys are the known names in lower case, each
// at most once, whose values are ASCII strings without escapes, numbers or
// null. It returns false for anything else, and the caller then decodes with
// encoding/json, so every other input (bad JSON, other types, unknown or
// duplicate keys, escapes, other letter case) keeps encoding/json's exact
// behaviour. For the inputs it accepts it gives what json.Unmarshal gives
// (FuzzFastRawMatchesJSON checks it): without reflection, it costs a
// fraction, and on a flash sale's burst of buys decoding was 16% of the
// node's CPU.
func fastRaw(data []byte, r *rawClientMessage) bool {
	p := fastParser{b: data}
	p.space()
	if !p.byte('{') {
		return false
	}
	var seen uint32
	p.space()
	if p.byte('}') {
		return p.end()
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		bit, str, raw := fieldOf(r, key)
		if bit == 0 || seen&bit != 0 {
			return false // unknown or repeated key: encoding/json decides
		}
		seen |= bit
		if !p.value(str, raw) {
			return false
		}
		p.space()
		if p.byte('}') {
			return p.end()
		}
		if !p.byte(',') {
			return false
		}
	}
}

// fieldOf returns the field of r named key: a bit for it, and either the
// *string or the json.RawMessage to fill.
func fieldOf(r *rawClientMessage, key []byte) (bit uint32, str **string, raw *json.RawMessage) {
	switch string(key) {
	case "type":
		return 1 << 0, &r.Type, nil
	case "id":
		return 1 << 1, nil, &r.ID
	case "token":
		return 1 << 2, &r.Token, nil
	case "room":
		return 1 << 3, &r.Room, nil
	case "since":
		return 1 << 4, nil, &r.Since
	case "product":
		return 1 << 5, &r.Product, nil
	case "qty":
		return 1 << 6, nil, &r.Qty
	case "price":
		return 1 << 7, nil, &r.Price
	case "quantity":
		return 1 << 8, nil, &r.Quantity
	case "per_user_limit":
		return 1 << 9, nil, &r.PerUserLimit
	case "duration_ms":
		return 1 << 10, nil, &r.DurationMS
	case "starts_in_ms":
		return 1 << 11, nil, &r.StartsInMS
	// The crowd's and the auction's hot messages: comment, react, bid.
	case "text":
		return 1 << 12, nil, &r.Text
	case "kind":
		return 1 << 13, nil, &r.Kind
	case "auction":
		return 1 << 14, &r.Auction, nil
	case "amount":
		return 1 << 15, nil, &r.Amount
	case "max":
		return 1 << 16, nil, &r.Max
	}
	return 0, nil, nil
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace follows.
func (p *fastParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// str reads a string of printable ASCII without escapes and returns its
// contents.
func (p *fastParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// value reads a string, a number or null into str (strings and null only)
// or raw (any of the three, as its bytes).
func (p *fastParser) value(str **string, raw *json.RawMessage) bool {
	start := p.i
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		if !ok {
			return false
		}
		if str != nil {
			v := string(s)
			*str = &v
			return true
		}
	case c == 'n':
		if len(p.b)-p.i < 4 || string(p.b[p.i:p.i+4]) != "null" {
			return false
		}
		p.i += 4
		if str != nil {
			*str = nil
			return true
		}
	case c == '-' || (c >= '0' && c <= '9'):
		if str != nil || !p.number() {
			return false // a number for a string field: encoding/json's error
		}
	default:
		return false
	}
	*raw = p.b[start:p.i:p.i]
	return true
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() bool {
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.byte('.') && !p.digits() {
		return false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more digits.
func (p *fastParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
