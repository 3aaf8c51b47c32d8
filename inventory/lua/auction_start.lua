-- auction_start schedules or starts an auction and holds one unit. ARGV:
-- now ("" = TIME), auction id, product, start price, increment, duration
-- ms, extend ms, reserve (0: none), starts-in ms, sudden death ("1"/"0"),
-- an order id (for ending a previous auction that fell due), request ttl.
-- Answers the auction's JSON and the time.
set_now(ARGV[3])
return once(ARGV[14], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local s = advance_sale()
	local cur = advance_auction(ARGV[13])
	if cur then
		return {'!', 'auction_exists', cur.state}
	end
	local product = ARGV[5]
	if redis.call('HEXISTS', K_PINFO, product) == 0 then
		return {'!', 'no_product'}
	end
	if s and s.product == product then
		return {'!', 'auction_on_sale'}
	end
	if tonumber(redis.call('HGET', K_STOCK, product)) < 1 then
		return {'!', 'auction_no_stock'}
	end
	local starts_in = tonumber(ARGV[11])
	local a = {
		id = ARGV[4], product = product, state = 'live', start_price = tonumber(ARGV[6]),
		increment = tonumber(ARGV[7]), reserve = tonumber(ARGV[10]), starts_at = NOW + starts_in,
		extend_ms = tonumber(ARGV[9]), sudden = ARGV[12], current = nil, leader = '', luser = '', lmax = 0,
		bids = 0, v = 0,
	}
	a.ends_at = a.starts_at + tonumber(ARGV[8])
	if starts_in > 0 then
		a.state = 'scheduled'
	end
	change_stock(product, -1)
	redis.call('HSET', K_AUCTION, 'id', a.id, 'product', a.product, 'state', a.state, 'start_price',
		int(a.start_price), 'increment', int(a.increment), 'reserve', int(a.reserve), 'starts_at', int(a.starts_at),
		'ends_at', int(a.ends_at), 'extend_ms', int(a.extend_ms), 'sudden', a.sudden, 'current', '', 'leader', '',
		'luser', '', 'lmax', 0, 'bids', 0, 'v', 0)
	local aj = auction_json(a, nil)
	emit('auction', ',"auction":' .. aj)
	return {'ok', aj, int(NOW)}
end)
