-- The kill in the rows of agents it stopped (one registry partition, one kill): sent by the
-- agent process just after kill_ack.lua's acknowledgement has released its runs, so the
-- Agents view reads "killed" a few milliseconds after the indexes do, not a heartbeat later.
-- KEYS: one agent hash per agent
-- ARGV: 1 kill id, 2 killed_by, 3 kill reason, then per agent: acknowledged at (s)
-- An agent hash that is gone (reaped) is not recreated: the SDK writes the whole row later,
-- with its TTL. Values are absolute, so a retried call is harmless.
local kill_id, by, reason = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'status', 'killed', 'kill_ack_at', ARGV[3 + i], 'kill_id', kill_id,
               'killed_by', by, 'kill_reason', reason)
    n = n + 1
  end
end
return n
