package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestChatFanoutRateFlag(t *testing.T) {
	none := func(string) string { return "" }
	if o, err := parse(nil, none, io.Discard); err != nil || o.chatFanoutRate != 50 {
		t.Fatalf("default -chat-fanout-rate: %d, %v; want 50", o.chatFanoutRate, err)
	}
	if o, err := parse([]string{"-chat-fanout-rate", "500"}, none, io.Discard); err != nil || o.chatFanoutRate != 500 {
		t.Fatalf("-chat-fanout-rate 500: %d, %v", o.chatFanoutRate, err)
	}
	for _, v := range []string{"0", "-1", "10001"} {
		if _, err := parse([]string{"-chat-fanout-rate", v}, none, io.Discard); err == nil || !strings.Contains(err.Error(), "-chat-fanout-rate") {
			t.Errorf("-chat-fanout-rate %s: %v, want refused", v, err)
		}
	}
	var help bytes.Buffer
	if _, err := parse([]string{"-h"}, none, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-chat-fanout-rate") {
		t.Fatalf("-h does not document -chat-fanout-rate: %v", err)
	}
}
