-- auction_bid is one bid, the whole step of MemoryStore.Bid: idempotency,
-- the clock, the minimum, the proxies, the extension and the bid message.
-- K_REQ is the idempotency key of the room, user and request id. ARGV:
-- now ("" = TIME), user, auction id, amount, max (0: none), the bidder's
-- author JSON, an order id (for an end that fell due), idempotency ttl,
-- the bidder's chat handle ('' for none). The last key is the room chat's
-- set of banned handles. Answers the bidder's amount, leading ("1"/"0"),
-- current and ends_at.
set_now(ARGV[3])
if not room_exists() then
	return result({'!', 'no_room'})
end
-- A bidder the room's chat banned. Not remembered: an unban lifts it.
if ARGV[11] ~= '' and redis.call('SISMEMBER', KEYS[#KEYS], ARGV[11]) == 1 then
	return result({'!', 'banned'})
end
local prev = redis.call('GET', K_REQ)
if prev then
	-- A write, so that a WAIT after this replay (-redis-wait-replicas)
	-- covers the first answer's writes too; it also keeps the answer for
	-- as long again.
	redis.call('PEXPIRE', K_REQ, ARGV[10])
	local res = cjson.decode(prev)
	table.insert(res, 1, '')
	return res
end

local function bid()
	local id = ARGV[5]
	local a = advance_auction(ARGV[9])
	if not a or a.id ~= id then
		if redis.call('HEXISTS', K_AENDED, id) == 1 then
			return {'!', 'auction_ended'}
		end
		return {'!', 'no_auction_id'}
	end
	if a.state ~= 'live' then
		return {'!', 'auction_scheduled'}
	end
	local min = a.start_price
	if a.current then
		min = a.current + a.increment
	end
	local amount, max = tonumber(ARGV[6]), tonumber(ARGV[7])
	if amount < min then
		return {'!', 'bid_too_low', int(min)}
	end
	if max < amount then
		max = amount
	end
	local user = ARGV[4]
	local cur, newmax, leads
	if not a.current then
		cur, newmax, leads = amount, max, true
	elseif a.luser == user then
		cur, newmax, leads = amount, math.max(a.lmax, max), true
	elseif max > a.lmax then
		cur, newmax, leads = math.max(amount, math.min(a.lmax + a.increment, max)), max, true
	elseif max == a.lmax then
		cur, newmax, leads = a.lmax, a.lmax, false
	else
		cur, newmax, leads = math.min(a.lmax, max + a.increment), a.lmax, false
	end
	a.current, a.lmax = cur, newmax
	if leads then
		a.leader, a.luser = ARGV[8], user
	end
	a.bids, a.v = a.bids + 1, a.v + 1
	if a.sudden ~= '1' and a.ends_at - NOW < a.extend_ms then
		a.ends_at = NOW + a.extend_ms
	end
	redis.call('HSET', K_AUCTION, 'current', int(cur), 'lmax', int(newmax), 'leader', a.leader, 'luser', a.luser,
		'bids', int(a.bids), 'v', int(a.v), 'ends_at', int(a.ends_at))
	volatile('bid:' .. a.id, 'bid', ',"auction":"' .. a.id .. '","current":' .. int(cur) .. ',"leader":' ..
		a.leader .. ',"bids":' .. int(a.bids) .. ',"ends_at":' .. int(a.ends_at) .. ',"v":' .. int(a.v))
	local own, lead = cur, '1'
	if not leads then
		own, lead = max, '0'
	end
	return {'ok', int(own), lead, int(cur), int(a.ends_at)}
end

local res = bid()
-- An unknown auction changed nothing and is not remembered (it may be a
-- typo the client corrects).
if res[2] ~= 'no_auction_id' then
	redis.call('SET', K_REQ, cjson.encode(res), 'PX', ARGV[10])
end
return result(res)
