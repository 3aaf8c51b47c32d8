-- buy is one purchase, the whole step of MemoryStore.Buy: idempotency,
-- sale window, limits, stock, decrement, order, stock and ticker messages,
-- and the end of a sold-out sale. K_REQ is the idempotency key of the
-- room, user and request id. ARGV: user, product, qty, order id, buyer
-- label as a JSON string, idempotency ttl, chat handle. Answers order, product, qty,
-- unit price and remaining. Only answers that took or could take stock are
-- remembered (as MemoryStore.Buy): an unknown product is not, so a flood of
-- bad requests costs no key each.
-- The refusals that are remembered: sold out, over the limit, sale not
-- live (an ok is always remembered).
local REMEMBERED = {sold_out = true, sale_sold_out = true, limit = true, sale_not_live = true}
if not room_exists() then
	-- Not remembered: the room may be created later.
	return result({'!', 'no_room'})
end
-- A buyer the room's chat banned (the last key, the chat's bans; ARGV[9]
-- the buyer's handle, '' for none). Not remembered: an unban lifts it.
if ARGV[9] ~= '' and redis.call('SISMEMBER', KEYS[#KEYS], ARGV[9]) == 1 then
	return result({'!', 'banned'})
end
return once(ARGV[8], function()
	local user, product, qty, order = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
	if redis.call('HEXISTS', K_PINFO, product) == 0 then
		return {'!', 'no_product'}
	end
	local s = advance_sale()
	local price = tonumber(redis.call('HGET', K_PRICE, product))
	local remaining = tonumber(redis.call('HGET', K_STOCK, product))
	local sale_id = ''
	if s and s.product == product then
		if s.state ~= 'live' then
			return {'!', 'sale_not_live'}
		end
		local had = tonumber(redis.call('HGET', K_SALEUSERS, user) or '0')
		if had + qty > s.per_user_limit then
			return {'!', 'limit', int(s.per_user_limit)}
		end
		if s.sold + qty > s.quantity or remaining < qty then
			return {'!', 'sale_sold_out'}
		end
		price, sale_id = s.price, s.id
	else
		s = nil
		if remaining < qty then
			return {'!', 'sold_out'}
		end
	end
	remaining = redis.call('HINCRBY', K_STOCK, product, -qty)
	local v = redis.call('HINCRBY', K_VER, product, 1)
	-- The order log: written in the same step as the decrement, so every
	-- acknowledged purchase is in it (and an operator can reconcile).
	local sid = redis.call('XADD', K_ORDERS, '*', 'order', order, 'user', user, 'product', product,
		'qty', int(qty), 'price', int(price), 'sale', sale_id, 'at', int(NOW))
	redis.call('HSET', K_ORDERIDX, order, sid)
	volatile('stock:' .. product, 'stock', ',"product":"' .. product .. '","remaining":' .. int(remaining) ..
		',"v":' .. int(v))
	local last = tonumber(redis.call('HGET', K_META, 'tick') or '0')
	if NOW - last >= TICKER_MS then
		redis.call('HSET', K_META, 'tick', int(NOW))
		volatile('purchase', 'purchase', ',"product":"' .. product .. '","qty":' .. int(qty) .. ',"buyer":' ..
			ARGV[7])
	end
	if s then
		s.sold = redis.call('HINCRBY', K_SALE, 'sold', qty)
		redis.call('HINCRBY', K_SALEUSERS, user, qty)
		if s.sold >= s.quantity or remaining == 0 then
			end_sale(s)
		end
	end
	return {'ok', order, product, int(qty), int(price), int(remaining)}
end, function(res)
	return res[1] == 'ok' or REMEMBERED[res[2]] == true
end)
