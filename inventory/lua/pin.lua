-- pin pins a catalog product, or clears the pin when the product is "".
-- ARGV: product, request ttl.
return once(ARGV[4], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local p = ARGV[3]
	if p == '' then
		local pinned = redis.call('HGET', K_META, 'pinned')
		if pinned and pinned ~= '' then
			redis.call('HSET', K_META, 'pinned', '')
			emit('unpinned', '')
		end
		return {'ok'}
	end
	if redis.call('HEXISTS', K_PINFO, p) == 0 then
		return {'!', 'no_product'}
	end
	redis.call('HSET', K_META, 'pinned', p)
	emit('pinned', ',"product":' .. product_json(p))
	return {'ok'}
end)
