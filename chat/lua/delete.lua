-- delete removes comments and emits comment_deleted with every id that was
-- ever issued. ARGV: request ttl, then the ids.
return once(ARGV[3], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local last = tonumber(redis.call('GET', K_LASTID) or '0')
	local drop, issued = {}, {}
	for i = 4, #ARGV do
		local id = ARGV[i]
		if tonumber(id) <= last and not drop[id] then
			drop[id] = true
			issued[#issued + 1] = id
		end
	end
	if #issued == 0 then
		return {'!', 'no_comment'}
	end
	remove_where(function(id, _)
		return drop[id]
	end)
	emit_deleted(issued)
	return {'ok'}
end)
