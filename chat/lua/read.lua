-- read answers the settings' JSON, the last ARGV[3] comments (oldest
-- first), the block-list version and, if ARGV[4] is "1", the block list,
-- and whether handle ARGV[5] is banned.
if not room_exists() then
	return {'!', 'no_room'}
end
local n = tonumber(ARGV[3])
local comments = {}
if n > 0 then
	for _, e in ipairs(redis.call('LRANGE', K_RECENT, -n, -1)) do
		comments[#comments + 1] = string.match(e, '^%d+\t[^\t]+\t(.*)$')
	end
end
local terms = {}
if ARGV[4] == '1' then
	terms = redis.call('LRANGE', K_BLOCK, 0, -1)
end
local banned = '0'
if ARGV[5] ~= '' and redis.call('SISMEMBER', K_BANS, ARGV[5]) == 1 then
	banned = '1'
end
return {'ok', settings_json(), comments, redis.call('HGET', K_SETTINGS, 'blv') or '0', terms, banned}
