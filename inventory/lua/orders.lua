-- orders pages through the order stream: up to ARGV[4] + 1 entries after
-- the order ARGV[3] ("" from the start); the extra entry tells Go whether
-- there is a next page.
-- A deleted room's orders stay readable until the retention trims them.
if not room_exists() and redis.call('EXISTS', K_ORDERS) == 0 then
	return result({'!', 'no_room'})
end
local start = '-'
if ARGV[3] ~= '' then
	local id = redis.call('HGET', K_ORDERIDX, ARGV[3])
	if not id then
		return result({'!', 'bad_after'})
	end
	start = '(' .. id
end
return result({'ok', redis.call('XRANGE', K_ORDERS, start, '+', 'COUNT', tonumber(ARGV[4]) + 1)})
