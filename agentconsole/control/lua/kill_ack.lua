-- Kill acknowledgements of many agents of one registry partition, for one kill: what one
-- agent process writes when a kill stops its runs (one call per partition, not per agent).
-- KEYS: 1 the kill's acknowledgement index, 2 status:killed, 3 status:running,
--       4 status:finished, 5 status:failed, then one agent hash per agent
-- ARGV: 1 kill id, 2 killed_by, 3 kill reason, 4 the acknowledgement index's TTL (s),
--       5 the length of a row key's part before the agent id, then per agent: acknowledged
--       at (s) (the id is the rest of its row's key: one argument fewer per agent to send)
-- An agent hash that is gone (reaped) is not recreated: the SDK writes the whole row later,
-- with its TTL. Values are absolute, so a retried call is harmless.
-- Index scores are integers (milliseconds in the acknowledgement index, whole seconds in
-- the status index): a small sorted set is a listpack that compares every score on each
-- insert, and an integer compares without being parsed (about four times cheaper).
local kill_id, by, reason = ARGV[1], ARGV[2], ARGV[3]
local skip = tonumber(ARGV[5]) + 1
local n = #KEYS - 5
local acked, entered, ids = {}, {}, {}
for i = 1, n do
  local key, at = KEYS[5 + i], ARGV[5 + i]
  local id = string.sub(key, skip)
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'status', 'killed', 'kill_ack_at', at, 'kill_id', kill_id,
               'killed_by', by, 'kill_reason', reason)
  end
  local seconds = tonumber(at)
  acked[2 * i - 1], acked[2 * i] = math.floor(seconds * 1000), id
  entered[2 * i - 1], entered[2 * i] = math.floor(seconds), id
  ids[i] = id
end
-- the indexes in a few commands (in chunks: unpack is bounded by Lua's stack)
local CHUNK = 1000
for first = 1, n, CHUNK do
  local last = math.min(first + CHUNK - 1, n)
  redis.call('ZADD', KEYS[1], unpack(acked, 2 * first - 1, 2 * last))
  redis.call('ZADD', KEYS[2], unpack(entered, 2 * first - 1, 2 * last))
  for k = 3, 5 do
    redis.call('ZREM', KEYS[k], unpack(ids, first, last))
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return n
