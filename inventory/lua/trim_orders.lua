-- trim_orders drops the orders older than ARGV[3] ms, at most ARGV[4] of
-- them, with their entries in the order index. Order stream ids are XADD
-- '*' ids, whose first part is the Redis time in ms, so "older" is by id.
-- A deleted room whose log is then empty loses its log keys. Answers how
-- many orders it dropped (ARGV[4] means there may be more).
local batch = tonumber(ARGV[4])
local minid = NOW - tonumber(ARGV[3])
local old = {}
if minid > 0 then -- a retention longer than the epoch keeps everything
	-- One entry more than the batch: when it is there, it is the first kept.
	old = redis.call('XRANGE', K_ORDERS, '-', '(' .. int(minid) .. '-0', 'COUNT', batch + 1)
end
local n = math.min(#old, batch)
if n > 0 then
	local ids = {}
	for i = 1, n do
		local f = old[i][2]
		for j = 1, #f, 2 do
			if f[j] == 'order' then
				ids[#ids + 1] = f[j + 1]
				break
			end
		end
	end
	if #ids > 0 then
		redis.call('HDEL', K_ORDERIDX, unpack(ids))
	end
	local keep = int(minid) .. '-0'
	if #old > batch then
		keep = old[batch + 1][1]
	end
	redis.call('XTRIM', K_ORDERS, 'MINID', keep)
end
if not room_exists() and redis.call('XLEN', K_ORDERS) == 0 then
	redis.call('DEL', K_ORDERS, K_ORDERIDX)
end
return result({'ok', int(n)})
