-- moderate acts on a handle. ARGV: request ttl, action (mute, unmute, ban,
-- unban, seen), handle, then for mute the duration (ms) and "1" to purge,
-- for seen the role.
return once(ARGV[3], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local action, h = ARGV[4], ARGV[5]
	if action == 'seen' then
		if privileged(ARGV[6]) then
			redis.call('HSET', K_ROLES, h, ARGV[6])
		else
			redis.call('HDEL', K_ROLES, h)
		end
		return {'ok'}
	elseif action == 'unmute' then
		redis.call('HDEL', K_MUTES, h)
		return {'ok'}
	elseif action == 'unban' then
		redis.call('SREM', K_BANS, h)
		return {'ok'}
	end
	if redis.call('HEXISTS', K_ROLES, h) == 1 then
		return {'!', 'privileged'}
	end
	if action == 'mute' then
		-- expired mutes go first, so the hash stays small
		local all = redis.call('HGETALL', K_MUTES)
		for i = 1, #all, 2 do
			if tonumber(all[i + 1]) <= NOW then
				redis.call('HDEL', K_MUTES, all[i])
			end
		end
		local untl = NOW + tonumber(ARGV[6])
		redis.call('HSET', K_MUTES, h, int(untl))
		if ARGV[7] == '1' then
			purge(h)
		end
		return {'ok', int(untl)}
	elseif action == 'ban' then
		redis.call('SADD', K_BANS, h)
		purge(h)
		volatile('ban:' .. h, 'error', ',"code":"banned","message":"' .. '$BANNED_MESSAGE' .. '"')
		return {'ok'}
	end
	return {'!', 'bad_action'}
end)
