// Package rscript holds a Lua script that publishes a room's envelopes in
// the two forms liveserver runs it in: with PUBLISH on one Redis (or a
// Sentinel-managed master), and with SPUBLISH on a Redis Cluster, where a
// room's channel is a shard channel in the room's slot ({room:<id>}), so an
// event travels only through the shard that owns the room.
//
// A script's source writes the command as $PUBLISH:
//
//	redis.call('$PUBLISH', CHANNEL, env)
//
// and the store picks the form for its client with For. A script's prelude
// writes $ENVELOPE where the shared emit and volatile functions
// (envelope.lua) belong, so every room script builds its envelopes one way.
package rscript

import (
	_ "embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Script is one script in both forms.
type Script struct {
	plain, sharded *redis.Script
}

//go:embed envelope.lua
var envelope string

// New returns the script src, whose publications are written $PUBLISH and
// whose $ENVELOPE is replaced by the shared emit and volatile functions.
func New(src string) *Script {
	src = strings.Replace(src, "$ENVELOPE", envelope, 1)
	return &Script{
		plain:   redis.NewScript(strings.ReplaceAll(src, "$PUBLISH", "PUBLISH")),
		sharded: redis.NewScript(strings.ReplaceAll(src, "$PUBLISH", "SPUBLISH")),
	}
}

// For returns the form of the script that rdb's subscribers receive: the
// sharded one on a Redis Cluster.
func (s *Script) For(rdb redis.UniversalClient) *redis.Script {
	if Sharded(rdb) {
		return s.sharded
	}
	return s.plain
}

// Sharded reports whether rdb is a Redis Cluster client, whose nodes use
// sharded pub/sub (SSUBSCRIBE, SPUBLISH) for rooms' channels.
func Sharded(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}
