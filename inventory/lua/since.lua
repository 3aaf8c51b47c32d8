-- since answers "1" and the events after seq ARGV[3] from the history, or
-- "0" when they are not all held any more or seq is ahead of the room.
if not room_exists() then
	return result({'!', 'no_room'})
end
local cur = tonumber(redis.call('HGET', K_META, 'seq'))
local from = tonumber(ARGV[3])
if from > cur then
	return result({'ok', '0'})
end
if from == cur then
	return result({'ok', '1', {}})
end
local n = cur - from
if n > redis.call('LLEN', K_HIST) then
	return result({'ok', '0'})
end
return result({'ok', '1', redis.call('LRANGE', K_HIST, -n, -1)})
