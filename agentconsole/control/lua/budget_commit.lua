-- Settle a reservation with what the call really used.
-- KEYS: 1 usage hash for the day, 2 reservations zset for the day, 3 budgets hash
-- ARGV: 1 reservation member (id|user|tokens|cost), 2 user, 3 actual tokens, 4 actual cost,
--       5 tenant ('' = none): its day's cost grows too, 6 default tenant daily cost (micro)
-- Returns the user's day tokens and cost, the tenant's day cost and its cap (0: none), so
-- usage booked after the fact (no reservation) can stop the tenant's next calls.
local user = ARGV[2]
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  local t, c = string.match(ARGV[1], '|(%d+)|(%d+)$')
  redis.call('HINCRBY', KEYS[1], user .. '\0rtokens', 0 - tonumber(t))
  redis.call('HINCRBY', KEYS[1], user .. '\0rcost', 0 - tonumber(c))
end
local tokens = redis.call('HINCRBY', KEYS[1], user .. '\0tokens', tonumber(ARGV[3]))
local cost = redis.call('HINCRBY', KEYS[1], user .. '\0cost', tonumber(ARGV[4]))
local tenant_cost, cap = 0, 0
local tenant = ARGV[5] or ''
if tenant ~= '' then
  tenant_cost = redis.call('HINCRBY', KEYS[1], '\1' .. tenant .. '\0tcost', tonumber(ARGV[4]))
  cap = tonumber(ARGV[6] or '0') or 0
  local raw = KEYS[3] and redis.call('HGET', KEYS[3], 'limits')
  if raw then
    local ok, doc = pcall(cjson.decode, raw)
    if ok and type(doc) == 'table' and tonumber(doc['tenant_daily_cost_usd']) then
      cap = math.floor(tonumber(doc['tenant_daily_cost_usd']) * 1000000 + 0.5)
    end
  end
  local own = KEYS[3] and redis.call('HGET', KEYS[3], 'tenant:' .. tenant)
  if own then
    local ok, d = pcall(cjson.decode, own)
    if ok and type(d) == 'table' and tonumber(d['usd']) and tonumber(d['usd']) > 0 then
      cap = math.floor(tonumber(d['usd']) * 1000000 + 0.5)
    end
  end
end
redis.call('EXPIRE', KEYS[1], 172800)
return {tokens, cost, tenant_cost, cap}
