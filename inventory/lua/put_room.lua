-- put_room creates or replaces a room. ARGV: title, request ttl, n, then n
-- times: product id, static JSON, price, stock.
return once(ARGV[4], function()
	local created = not room_exists()
	local n = tonumber(ARGV[5])
	redis.call('DEL', K_PRODUCTS, K_PINFO, K_PRICE, K_STOCK)
	local ids = {}
	for i = 0, n - 1 do
		local a = 6 + 4 * i
		local id = ARGV[a]
		ids[#ids + 1] = id
		redis.call('RPUSH', K_PRODUCTS, id)
		redis.call('HSET', K_PINFO, id, ARGV[a + 1])
		redis.call('HSET', K_PRICE, id, ARGV[a + 2])
		redis.call('HSET', K_STOCK, id, ARGV[a + 3])
		-- Versions outlive the catalog, so a product listed again still
		-- gets a higher v than any a client holds.
		redis.call('HINCRBY', K_VER, id, 1)
	end
	redis.call('HSET', K_META, 'title', ARGV[3])
	if created then
		redis.call('HSET', K_META, 'seq', 0, 'pinned', '', 'tick', 0)
		return {'ok', '1'}
	end
	local parts = {}
	for i, id in ipairs(ids) do
		parts[i] = product_json(id)
	end
	-- Built by hand: cjson would encode an empty catalog as {}.
	emit('catalog', ',"products":[' .. table.concat(parts, ',') .. ']')
	local pinned = redis.call('HGET', K_META, 'pinned')
	if pinned and pinned ~= '' and redis.call('HEXISTS', K_PINFO, pinned) == 0 then
		redis.call('HSET', K_META, 'pinned', '')
		emit('unpinned', '')
	end
	local s = get_sale()
	if s and redis.call('HEXISTS', K_PINFO, s.product) == 0 then
		end_sale(s)
	end
	-- An auction of a removed product ends unsold: its unit left with it.
	local a = get_auction()
	if a and redis.call('HEXISTS', K_PINFO, a.product) == 0 then
		end_auction(a, true, '')
	end
	return {'ok', '0'}
end)
