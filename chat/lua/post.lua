-- post checks a comment against the room's limits and, if it passes,
-- numbers it, keeps it in the recent list and publishes it.
-- ARGV: handle, role, author JSON, text JSON, the block-list version the
-- node checked the text against, "1" if that check found a blocked term,
-- request ttl, user-state ttl, rate interval and tolerance (ms).
return once(ARGV[9], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local h, role = ARGV[3], ARGV[4]
	local priv = privileged(role)
	local u = redis.call('HMGET', K_USER, 'tat', 'last')
	local tat, last = tonumber(u[1] or '0'), tonumber(u[2] or '0')
	if not priv then
		if redis.call('SISMEMBER', K_BANS, h) == 1 then
			return {'!', 'banned'}
		end
		local mute = tonumber(redis.call('HGET', K_MUTES, h) or '0')
		if mute > NOW then
			return {'!', 'muted', int(mute)}
		end
		local st = redis.call('HMGET', K_SETTINGS, 'enabled', 'slow', 'blv')
		if st[1] == '0' then
			return {'!', 'chat_closed'}
		end
		local blv = st[3] or '0'
		if blv ~= ARGV[7] then
			return {'!', 'stale_blocklist', blv, redis.call('LRANGE', K_BLOCK, 0, -1)}
		end
		if ARGV[8] == '1' then
			return {'!', 'blocked'}
		end
		local slow = tonumber(st[2] or '0')
		if slow > 0 and last > 0 and NOW - last < slow then
			return {'!', 'slow_mode', int(last + slow - NOW)}
		end
	end
	local interval, tolerance = tonumber(ARGV[11]), tonumber(ARGV[12])
	if tat < NOW then
		tat = NOW
	end
	if tat - NOW > tolerance then
		return {'!', 'rate_limited', int(tat - NOW - tolerance)}
	end
	redis.call('HSET', K_USER, 'tat', int(tat + interval), 'last', int(NOW))
	redis.call('PEXPIRE', K_USER, ARGV[10])
	if priv then
		redis.call('HSET', K_ROLES, h, role)
	else
		redis.call('HDEL', K_ROLES, h)
	end
	local id = int(redis.call('INCR', K_LASTID))
	local c = '{"id":"' .. id .. '","author":' .. ARGV[5] .. ',"text":' .. ARGV[6] .. ',"at":' .. int(NOW) .. '}'
	redis.call('RPUSH', K_RECENT, id .. '\t' .. h .. '\t' .. c)
	redis.call('LTRIM', K_RECENT, -RECENT, -1)
	volatile('comment:' .. h, 'comment', ',"comment":' .. c)
	return {'ok', c}
end)
