-- reactions adds a node's counts to the room's pending counts, once per
-- flush (K_REQ), and publishes the pending counts of the whole cluster as
-- one reactions message if the last one is at least the interval old.
-- ARGV: the counts of clap, fire, heart, laugh, wow; the interval and the
-- request ttl (ms). Answers how long (ms) until counts still pending may
-- go, "0" when none are pending.
if not room_exists() then
	return {'!', 'no_room'}
end
local KINDS = {'clap', 'fire', 'heart', 'laugh', 'wow'}
if redis.call('SET', K_REQ, '1', 'NX', 'PX', ARGV[9]) then
	for i, k in ipairs(KINDS) do
		local n = tonumber(ARGV[2 + i])
		if n > 0 then
			redis.call('HINCRBY', K_REACT, k, n)
		end
	end
end
local v = redis.call('HMGET', K_REACT, 'clap', 'fire', 'heart', 'laugh', 'wow', '_at')
local parts = {}
for i, k in ipairs(KINDS) do
	local n = tonumber(v[i] or '0')
	if n > 0 then
		parts[#parts + 1] = '"' .. k .. '":' .. int(n)
	end
end
if #parts == 0 then
	return {'ok', '0'}
end
local wait = tonumber(v[6] or '0') + tonumber(ARGV[8]) - NOW
if wait > 0 then
	return {'ok', int(wait)}
end
redis.call('HDEL', K_REACT, unpack(KINDS))
redis.call('HSET', K_REACT, '_at', int(NOW))
volatile('reactions', 'reactions', ',"counts":{' .. table.concat(parts, ',') .. '}')
return {'ok', '0'}
