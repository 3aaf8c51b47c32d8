-- due is not a room script (no prelude): it claims the sale transitions
-- that fell due in the index of pending instants, KEYS[1], a sorted set
-- of "<room>:<sale id>" by instant. A claimed entry moves ARGV[2] ms ahead,
-- so other nodes leave it alone while this one ticks it; if this node dies
-- meanwhile another picks it up then. ARGV[1] bounds the batch.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
	redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), m)
end
return due
