-- Reserve tokens and cost for one call before it is made, so that concurrent agents can
-- never push a user past the daily limits (reserve-then-commit).
-- KEYS: 1 budgets hash, 2 usage hash for the day, 3 reservations zset for the day
-- ARGV: 1 user, 2 tokens, 3 cost (micro-USD), 4 reservation id, 5 now (s), 6 ttl (s),
--       7 default request tokens, 8 default daily tokens, 9 default daily cost (micro-USD),
--       10 tenant ('' = none), 11 default tenant daily cost (micro-USD, 0 = no cap)
-- A tenant's daily cap is its own (field 'tenant:<name>', `budget tenant`) or else
-- tenant_daily_cost_usd; what the tenant spent today is committed cost (field
-- '\1<tenant>\0tcost'), so calls already in flight may pass it by their own cost.
local limits = {request_tokens = tonumber(ARGV[7]), user_daily_tokens = tonumber(ARGV[8]),
                user_daily_cost_micros = tonumber(ARGV[9]),
                tenant_daily_cost_micros = tonumber(ARGV[11] or '0') or 0}
local raw = redis.call('HGET', KEYS[1], 'limits')
if raw then
  local ok, doc = pcall(cjson.decode, raw)
  if ok and type(doc) == 'table' then
    if tonumber(doc['request_tokens']) then limits.request_tokens = tonumber(doc['request_tokens']) end
    if tonumber(doc['user_daily_tokens']) then limits.user_daily_tokens = tonumber(doc['user_daily_tokens']) end
    if tonumber(doc['user_daily_cost_usd']) then
      limits.user_daily_cost_micros = math.floor(tonumber(doc['user_daily_cost_usd']) * 1000000 + 0.5)
    end
    if tonumber(doc['tenant_daily_cost_usd']) then
      limits.tenant_daily_cost_micros = math.floor(tonumber(doc['tenant_daily_cost_usd']) * 1000000 + 0.5)
    end
  end
end
-- give back what crashed agents reserved and never committed
local now = tonumber(ARGV[5])
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for _, member in ipairs(expired) do
  local u, t, c = string.match(member, '^[^|]*|(.*)|(%d+)|(%d+)$')
  if u then
    redis.call('HINCRBY', KEYS[2], u .. '\0rtokens', 0 - tonumber(t))
    redis.call('HINCRBY', KEYS[2], u .. '\0rcost', 0 - tonumber(c))
  end
  redis.call('ZREM', KEYS[3], member)
end
local user, tokens, cost = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if tokens > limits.request_tokens then
  return {'request_tokens', limits.request_tokens, tokens}
end
local used = tonumber(redis.call('HGET', KEYS[2], user .. '\0tokens') or '0')
local rtok = tonumber(redis.call('HGET', KEYS[2], user .. '\0rtokens') or '0')
if used + rtok + tokens > limits.user_daily_tokens then
  return {'user_daily_tokens', limits.user_daily_tokens, used + rtok}
end
local spent = tonumber(redis.call('HGET', KEYS[2], user .. '\0cost') or '0')
local rcost = tonumber(redis.call('HGET', KEYS[2], user .. '\0rcost') or '0')
if spent + rcost + cost > limits.user_daily_cost_micros then
  return {'user_daily_cost', limits.user_daily_cost_micros, spent + rcost}
end
local tenant = ARGV[10] or ''
if tenant ~= '' then
  local cap = limits.tenant_daily_cost_micros
  local own = redis.call('HGET', KEYS[1], 'tenant:' .. tenant)
  if own then
    local ok, d = pcall(cjson.decode, own)
    if ok and type(d) == 'table' and tonumber(d['usd']) and tonumber(d['usd']) > 0 then
      cap = math.floor(tonumber(d['usd']) * 1000000 + 0.5)
    end
  end
  if cap > 0 then
    local tspent = tonumber(redis.call('HGET', KEYS[2], '\1' .. tenant .. '\0tcost') or '0')
    if tspent + cost > cap then
      return {'tenant_daily_cost', cap, tspent}
    end
  end
end
redis.call('HINCRBY', KEYS[2], user .. '\0rtokens', tokens)
redis.call('HINCRBY', KEYS[2], user .. '\0rcost', cost)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]),
  ARGV[4] .. '|' .. user .. '|' .. tokens .. '|' .. cost)
redis.call('EXPIRE', KEYS[2], 172800)
redis.call('EXPIRE', KEYS[3], 172800)
return {'ok', 0, 0}
