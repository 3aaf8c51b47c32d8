package inventory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/liveserver/liveserver/inventory"
	"github.com/liveserver/liveserver/protocol"
)

// Titles and names are shown to every viewer and images are loaded by
// their pages: control and bidi-override characters, and image URLs that
// are not https: or a path on this server, are bad_request.
func TestRoomSpecRefusesUnsafeText(t *testing.T) {
	t.Parallel()
	product := func(name, image string) inventory.RoomSpec {
		return inventory.RoomSpec{Title: "ok", Products: []inventory.ProductSpec{{ID: "p1", Name: name, Price: 1, Currency: "USD", Image: image, Stock: 1}}}
	}
	titled := func(title string) inventory.RoomSpec {
		s := product("Tote", "")
		s.Title = title
		return s
	}
	good := map[string]inventory.RoomSpec{
		"plain":              product("Canvas Tote", "/demo/img/tote.svg"),
		"unicode name":       product("Café — 東京 👜", "/i?a=1&b=2"),
		"markup is text":     product(`A "tote" <b>`, ""),
		"https image":        product("Tote", "https://cdn.example.com/tote.png?v=2"),
		"https upper scheme": product("Tote", "HTTPS://cdn.example.com/tote.png"),
		"unicode title":      titled("Spring drop — live"),
		"arabic title":       titled("تخفيضات الربيع"),
	}
	for name, spec := range good {
		if err := spec.Validate(); err != nil {
			t.Errorf("%s: %v, want valid", name, err)
		}
	}
	bad := map[string]inventory.RoomSpec{
		"NUL in name":           product("To\x00te", ""),
		"newline in name":       product("Tote\nBuy at evil.example", ""),
		"tab in name":           product("Tote\t", ""),
		"DEL in name":           product("Tote\x7f", ""),
		"C1 in name":            product("Tote\u0085", ""),
		"RLO in name":           product("Tote \u202egnp.exe", ""),
		"LRE in name":           product("\u202aTote", ""),
		"PDF in name":           product("Tote\u202c", ""),
		"RLI in name":           product("Tote\u2067", ""),
		"PDI in name":           product("Tote\u2069", ""),
		"escape in title":       titled("Drop \x1b[31m"),
		"RLO in title":          titled("Drop \u202e"),
		"LRI in title":          titled("\u2066Drop"),
		"javascript: image":     product("Tote", "javascript:alert(1)"),
		"JavaScript: image":     product("Tote", "JavaScript:alert(1)"),
		"data: image":           product("Tote", "data:image/svg+xml,<svg onload=alert(1)>"),
		"http image":            product("Tote", "http://cdn.example.com/tote.png"),
		"protocol-relative":     product("Tote", "//evil.example/tote.png"),
		"backslash host":        product("Tote", "/\\evil.example/tote.png"),
		"tab in path":           product("Tote", "/\t/evil.example/x.png"),
		"space in path":         product("Tote", "/img/a b.png"),
		"relative path":         product("Tote", "img/tote.svg"),
		"https without host":    product("Tote", "https:///x.png"),
		"https opaque":          product("Tote", "https:evil.example"),
		"leading space":         product("Tote", " javascript:alert(1)"),
		"newline in javascript": product("Tote", "java\nscript:alert(1)"),
	}
	for name, spec := range bad {
		err := spec.Validate()
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeBadRequest {
			t.Errorf("%s: %v, want bad_request", name, err)
			continue
		}
		if !strings.Contains(pe.Message, "title") && !strings.Contains(pe.Message, "products[0]") {
			t.Errorf("%s: message %q does not say which field", name, pe.Message)
		}
	}
}
