-- settings changes the chat settings and emits chat. ARGV: request ttl,
-- enabled ("", "0" or "1"), slow_mode_ms ("" to keep), announcement mode
-- ("", "set" or "clear"), the announcement's JSON.
return once(ARGV[3], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	if ARGV[4] ~= '' then
		redis.call('HSET', K_SETTINGS, 'enabled', ARGV[4])
	end
	if ARGV[5] ~= '' then
		redis.call('HSET', K_SETTINGS, 'slow', ARGV[5])
	end
	if ARGV[6] == 'set' then
		redis.call('HSET', K_SETTINGS, 'ann', ARGV[7])
	elseif ARGV[6] == 'clear' then
		redis.call('HDEL', K_SETTINGS, 'ann')
	end
	local j = settings_json()
	emit('chat', ',"chat":' .. j)
	return {'ok', j}
end)
