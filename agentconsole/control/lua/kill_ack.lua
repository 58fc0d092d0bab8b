-- Kill acknowledgements of many agents of one registry partition, for one kill: what one
-- agent process writes when a kill stops its runs, and what those runs wait for before
-- they leave their `async with` (one call per partition, not per agent). Indexes only:
-- the rows' own fields follow with kill_rows.lua, once the runs are released.
-- KEYS: 1 the kill's acknowledgement index, 2 status:killed, 3 status:running,
--       4 status:finished, 5 status:failed
-- ARGV: 1 the acknowledgement index's TTL (s), 2 the agents: "<id>\n<acknowledged at,
--       integer ms>\n" for each (one argument for all of them: packing two arguments per
--       agent cost the sender more than this script costs Redis; an id is a name, which
--       holds no control character, so a newline cannot be part of one)
-- Values are absolute, so a retried call is harmless.
-- Index scores are integers (milliseconds in the acknowledgement index, whole seconds in
-- the status index): a small sorted set is a listpack that compares every score on each
-- insert, and an integer compares without being parsed (about four times cheaper).
local acked, entered, ids = {}, {}, {}
local n = 0
for id, ms in string.gmatch(ARGV[2], '([^\n]+)\n(%d+)\n') do
  n = n + 1
  acked[2 * n - 1], acked[2 * n] = ms, id
  entered[2 * n - 1], entered[2 * n] = math.floor(tonumber(ms) / 1000), id
  ids[n] = id
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
if n > 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return n
