-- auction_common.lua follows common.lua in the prelude of every room
-- script: the auction helpers, shared by the auction scripts and by the
-- scripts that must see the room's auction (snapshot, start_sale,
-- put_room). The rules are MemoryStore's (inventory/auction.go).
--
-- K_AUCTION is a hash, the room's scheduled or live auction: id, product,
-- state, start_price, increment, reserve (0: none), starts_at, ends_at,
-- extend_ms, sudden ("1"/"0"), current ("" before the first bid), leader
-- (the author JSON, "" before), luser (the leader's user id), lmax (its
-- max), bids, v. K_AENDED maps the id of an ended auction to its record
-- (JSON: auction, winner user id, order id, at); K_AENDEDZ orders those ids
-- by end, for trimming after AUCTION_RETENTION_MS.
local AUCTION_RETENTION_MS = $AUCTION_RETENTION_MS

-- set_now lets a test fix the auction scripts' clock (an internal test
-- hook of RedisStore; production passes "" and Redis TIME decides).
local function set_now(v)
	if v ~= '' then
		NOW = tonumber(v)
	end
end

local AUCTION_NUMBERS = {'start_price', 'increment', 'reserve', 'starts_at', 'ends_at', 'extend_ms', 'bids', 'v',
	'lmax'}

-- get_auction returns the scheduled or live auction, or nil.
local function get_auction()
	local f = redis.call('HGETALL', K_AUCTION)
	if #f == 0 then
		return nil
	end
	local a = {}
	for i = 1, #f, 2 do
		a[f[i]] = f[i + 1]
	end
	for _, k in ipairs(AUCTION_NUMBERS) do
		a[k] = tonumber(a[k])
	end
	if a.current == '' then
		a.current = nil
	else
		a.current = tonumber(a.current)
	end
	return a
end

local function reserve_met(a)
	return a.reserve == 0 or (a.current ~= nil and a.current >= a.reserve)
end

local function bool(b)
	if b then
		return 'true'
	end
	return 'false'
end

-- auction_json is the auction as protocol.Auction encodes it; result is
-- the result's JSON or nil.
local function auction_json(a, result)
	local cur, leader = 'null', 'null'
	if a.current then
		cur = int(a.current)
	end
	if a.leader ~= '' then
		leader = a.leader
	end
	return '{"id":"' .. a.id .. '","product":"' .. a.product .. '","state":"' .. a.state .. '","start_price":' ..
		int(a.start_price) .. ',"increment":' .. int(a.increment) .. ',"reserve_met":' .. bool(reserve_met(a)) ..
		',"current":' .. cur .. ',"leader":' .. leader .. ',"bids":' .. int(a.bids) .. ',"starts_at":' ..
		int(a.starts_at) .. ',"ends_at":' .. int(a.ends_at) .. ',"extend_ms":' .. int(a.extend_ms) ..
		',"sudden_death":' .. bool(a.sudden == '1') .. ',"result":' .. (result or 'null') .. '}'
end

-- change_stock moves a product's stock by delta and publishes it.
local function change_stock(product, delta)
	local remaining = redis.call('HINCRBY', K_STOCK, product, delta)
	local v = redis.call('HINCRBY', K_VER, product, 1)
	volatile('stock:' .. product, 'stock', ',"product":"' .. product .. '","remaining":' .. int(remaining) ..
		',"v":' .. int(v))
end

-- end_auction ends auction a now, exactly once: deleting the current
-- auction is part of this step, so no later call finds it to end again.
-- Sold (not cancelled, a leader, the reserve met): the order order_id is
-- appended to the order log here. Else the unit goes back to stock, if the
-- product is still listed. Returns the ended auction's JSON.
local function end_auction(a, cancelled, order_id)
	redis.call('DEL', K_AUCTION)
	a.state = 'ended'
	local result, winner = '{"outcome":"unsold"}', ''
	if not cancelled and a.leader ~= '' and reserve_met(a) then
		local sid = redis.call('XADD', K_ORDERS, '*', 'order', order_id, 'user', a.luser, 'product', a.product,
			'qty', '1', 'price', int(a.current), 'sale', '', 'auction', a.id, 'at', int(NOW))
		redis.call('HSET', K_ORDERIDX, order_id, sid)
		result = '{"outcome":"sold","amount":' .. int(a.current) .. ',"winner":' .. a.leader .. ',"order":"' ..
			order_id .. '"}'
		winner = a.luser
	elseif redis.call('HEXISTS', K_PINFO, a.product) == 1 then
		change_stock(a.product, 1)
	end
	local aj = auction_json(a, result)
	local old = redis.call('ZRANGEBYSCORE', K_AENDEDZ, '-inf', NOW - AUCTION_RETENTION_MS, 'LIMIT', 0, 100)
	if #old > 0 then
		redis.call('HDEL', K_AENDED, unpack(old))
		redis.call('ZREM', K_AENDEDZ, unpack(old))
	end
	redis.call('HSET', K_AENDED, a.id, '{"auction":' .. aj .. ',"winner":' .. cjson.encode(winner) ..
		',"at":' .. int(NOW) .. '}')
	redis.call('ZADD', K_AENDEDZ, NOW, a.id)
	emit('auction', ',"auction":' .. aj)
	return aj
end

-- advance_auction moves the auction to the state the clock says it is in
-- (ending it with order_id for a possible order) and returns it unless it
-- ended.
local function advance_auction(order_id)
	local a = get_auction()
	if not a then
		return nil
	end
	if a.state == 'scheduled' and NOW >= a.starts_at and NOW < a.ends_at then
		a.state = 'live'
		redis.call('HSET', K_AUCTION, 'state', 'live')
		emit('auction', ',"auction":' .. auction_json(a, nil))
	end
	if NOW >= a.ends_at then
		end_auction(a, false, order_id)
		return nil
	end
	return a
end
