-- emit gives an event the room's next seq, appends it to the bounded
-- history and publishes it, all in the calling script: nothing is published
-- that is not also in the state and the history. The shop's scripts and the
-- chat's share this one definition, so their events share one seq, one
-- history and one envelope (protocol.SeqEnvelope). The prelude that includes
-- it defines K_META, K_HIST, ROOM, NOW, HISTORY, CHANNEL and int.
local function emit(typ, body)
	local seq = int(redis.call('HINCRBY', K_META, 'seq', 1))
	local env = 'S' .. seq .. '\n{"type":"' .. typ .. '","room":"' .. ROOM .. '","seq":' .. seq ..
		',"ts":' .. int(NOW) .. body .. '}'
	redis.call('RPUSH', K_HIST, env)
	redis.call('LTRIM', K_HIST, -HISTORY, -1)
	redis.call('$PUBLISH', CHANNEL, env)
end

-- volatile publishes a message without seq; key is its conflation key
-- (protocol.VolatileEnvelope).
local function volatile(key, typ, body)
	redis.call('$PUBLISH', CHANNEL, 'V' .. key .. '\n{"type":"' .. typ .. '","room":"' .. ROOM ..
		'","ts":' .. int(NOW) .. body .. '}')
end
