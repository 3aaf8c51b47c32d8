-- delete_room deletes a room: its catalog, stock, versions, pin, sale,
-- auctions and history go; its order stream and index stay until the retention trims
-- them (trim_orders.lua); remembered answers expire on their own. Every
-- node's viewers of the room get room_closed, published in this same
-- step, after every event of the room. ARGV: request ttl. Answers the id
-- of the sale it removed, "" if none, for the sale index.
return once(ARGV[3], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local sale = redis.call('HGET', K_SALE, 'id') or ''
	-- An auction goes with its room, unsold (its unit went with the stock);
	-- its index entry's tick finds no room and removes it.
	redis.call('DEL', K_META, K_PRODUCTS, K_PINFO, K_PRICE, K_STOCK, K_VER, K_SALE, K_SALEUSERS, K_HIST,
		K_AUCTION, K_AENDED, K_AENDEDZ)
	volatile('closed', 'room_closed', '')
	return {'ok', sale}
end)
