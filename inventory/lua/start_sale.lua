-- start_sale schedules or starts a flash sale. ARGV: sale id, product,
-- price, quantity, per-user limit, duration ms, starts-in ms, request ttl.
-- Answers the sale's JSON and the time it was started.
return once(ARGV[10], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local cur = advance_sale()
	if cur then
		return {'!', 'sale_exists', cur.state}
	end
	local product = ARGV[4]
	if redis.call('HEXISTS', K_PINFO, product) == 0 then
		return {'!', 'no_product'}
	end
	-- No sale of a product being auctioned (one past its end but not yet
	-- ended by a tick is over already: its unit stays held or sold).
	local a = get_auction()
	if a and a.product == product and (a.state == 'scheduled' or NOW < a.ends_at) then
		return {'!', 'sale_on_auction'}
	end
	local starts_in = tonumber(ARGV[9])
	local start = NOW + starts_in
	local s = {
		id = ARGV[3], product = product, price = tonumber(ARGV[5]), quantity = tonumber(ARGV[6]), sold = 0,
		per_user_limit = tonumber(ARGV[7]), starts_at = start, ends_at = start + tonumber(ARGV[8]),
		state = 'live',
	}
	if starts_in > 0 then
		s.state = 'scheduled'
	end
	redis.call('DEL', K_SALE, K_SALEUSERS)
	redis.call('HSET', K_SALE, 'id', s.id, 'product', s.product, 'price', int(s.price), 'quantity', int(s.quantity),
		'sold', 0, 'per_user_limit', int(s.per_user_limit), 'starts_at', int(s.starts_at), 'ends_at', int(s.ends_at),
		'state', s.state)
	emit_sale(s)
	return {'ok', sale_json(s), int(NOW)}
end)
