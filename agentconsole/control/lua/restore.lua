-- An operator's decision after a reset, atomically: restore a backup (or accept the state
-- Redis holds now), under a new epoch the holding agents adopt, with one audit entry.
-- A restore replaces flags, breakers and budget limits with the backup's and adds the
-- backup's kills and holds (drains, pauses) to those in force (a kill, drain or pause
-- issued during the reset is never lifted).
-- KEYS: 1 flags, 2 breakers, 3 kills, 4 budgets, 5 schema, 6 epoch, 7 version, 8 audit,
--       9 holders' reports, 10 holds
-- ARGV: 1 mode ('restore' | 'accept'), 2 actor, 3 role, 4 reason, 5 timestamp,
--       6 audit max length, 7 channel, 8 new epoch document, 9 new epoch id,
--       10 schema version, 11 backup's version, 12 target (what was restored),
--       13 summary of what is restored, then triples: hash index (1-5, 5 = holds), field,
--       document
local before_epoch = redis.call('GET', KEYS[6]) or ''
local before = cjson.encode({epoch = before_epoch, version = redis.call('GET', KEYS[7]) or '0',
  flags = redis.call('HLEN', KEYS[1]), breakers = redis.call('HLEN', KEYS[2]),
  kills = redis.call('HLEN', KEYS[3]), budgets = redis.call('HLEN', KEYS[4])})
local kept = 0
if ARGV[1] == 'restore' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
  kept = redis.call('HLEN', KEYS[3])
  for i = 14, #ARGV, 3 do
    local h = tonumber(ARGV[i])
    if h == 3 then
      redis.call('HSETNX', KEYS[3], ARGV[i + 1], ARGV[i + 2])
    elseif h == 5 then
      redis.call('HSETNX', KEYS[10], ARGV[i + 1], ARGV[i + 2])
    else
      redis.call('HSET', KEYS[h], ARGV[i + 1], ARGV[i + 2])
    end
  end
end
local current = tonumber(redis.call('GET', KEYS[7]) or '0') or 0
local gv = math.max(current, tonumber(ARGV[11]) or 0) + 1
redis.call('SET', KEYS[7], gv)
redis.call('SET', KEYS[5], ARGV[10])
redis.call('SET', KEYS[6], ARGV[8])
redis.call('DEL', KEYS[9])
local action = 'control.' .. ARGV[1]
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[6], '*',
  'ts', ARGV[5], 'actor', ARGV[2], 'role', ARGV[3], 'action', action,
  'entity', 'control', 'target', ARGV[12], 'before', before, 'after', ARGV[13],
  'reason', ARGV[4], 'cp_version', gv)
redis.call('PUBLISH', ARGV[7], cjson.encode({entity = 'control', name = ARGV[12],
  action = action, version = gv, cp_version = gv, actor = ARGV[2], ts = ARGV[5],
  epoch = ARGV[9]}))
return {gv, kept}
