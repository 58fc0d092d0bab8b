-- Settle a reservation with what the call really used.
-- KEYS: 1 usage hash for the day, 2 reservations zset for the day
-- ARGV: 1 reservation member (id|user|tokens|cost), 2 user, 3 actual tokens, 4 actual cost
local user = ARGV[2]
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  local t, c = string.match(ARGV[1], '|(%d+)|(%d+)$')
  redis.call('HINCRBY', KEYS[1], user .. '\0rtokens', 0 - tonumber(t))
  redis.call('HINCRBY', KEYS[1], user .. '\0rcost', 0 - tonumber(c))
end
local tokens = redis.call('HINCRBY', KEYS[1], user .. '\0tokens', tonumber(ARGV[3]))
local cost = redis.call('HINCRBY', KEYS[1], user .. '\0cost', tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[1], 172800)
return {tokens, cost}
