-- Fleet-wide circuit-breaker state for one dependency, changed atomically by agents.
-- One process opening the breaker opens it for all (a change event tells them at once);
-- after wait_open the breaker is half-open and at most max_trials trial calls are granted
-- across the whole fleet; close_after successful trials close it, one failed trial reopens.
-- KEYS: 1 breaker_state hash, 2 control-plane version counter (read only)
-- ARGV: 1 dependency, 2 action (open | trial | trial_ok | trial_fail | stats), 3 now (s),
--       4 failure rate, 5 slow rate, 6 calls in window, 7 rejected since last report,
--       8 wait_open (s), 9 max trials, 10 close_after, 11 event channel
local dep, action, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local doc = {state = 'closed', failure_rate = 0, slow_rate = 0, calls = 0, rejected = 0,
             last_transition = 0, trials = 0, successes = 0}
local raw = redis.call('HGET', KEYS[1], dep)
if raw then
  local ok, cur = pcall(cjson.decode, raw)
  if ok and type(cur) == 'table' then
    for k, v in pairs(cur) do doc[k] = v end
  end
end
if doc.state ~= 'open' and doc.state ~= 'half_open' then doc.state = 'closed' end
local wait_open, max_trials = tonumber(ARGV[8]), tonumber(ARGV[9])
local close_after = tonumber(ARGV[10])
local verdict = 'unchanged'
local changed = false

local function move(state)
  doc.state = state
  doc.last_transition = now
  doc.trials = 0
  doc.successes = 0
  changed = true
end

if action == 'stats' or action == 'open' then
  doc.failure_rate = tonumber(ARGV[4])
  doc.slow_rate = tonumber(ARGV[5])
  doc.calls = tonumber(ARGV[6])
  doc.rejected = (tonumber(doc.rejected) or 0) + tonumber(ARGV[7])
end

if action == 'open' then
  if doc.state == 'closed' then
    move('open')
    doc.opened_at = now
    verdict = 'opened'
  end
elseif action == 'trial' then
  local opened = tonumber(doc.opened_at) or 0
  if doc.state == 'closed' then
    verdict = 'closed'
  elseif doc.state == 'open' and now < opened + wait_open then
    verdict = 'deny'
  else
    -- open long enough, or a half-open period whose trials never reported: start afresh
    if doc.state == 'open' or now - (tonumber(doc.last_transition) or 0) > wait_open then
      move('half_open')
    end
    if (tonumber(doc.trials) or 0) < max_trials then
      doc.trials = (tonumber(doc.trials) or 0) + 1
      verdict = 'permit'
    else
      verdict = 'deny'
    end
  end
elseif action == 'trial_ok' then
  if doc.state == 'half_open' then
    doc.successes = (tonumber(doc.successes) or 0) + 1
    if doc.successes >= close_after then
      move('closed')
      doc.opened_at = nil
      doc.failure_rate = 0
      doc.slow_rate = 0
      verdict = 'closed'
    end
  end
elseif action == 'trial_fail' then
  if doc.state == 'half_open' then
    move('open')
    doc.opened_at = now
    verdict = 'opened'
  end
end

redis.call('HSET', KEYS[1], dep, cjson.encode(doc))
if changed then
  local gv = tonumber(redis.call('GET', KEYS[2]) or '0')
  redis.call('PUBLISH', ARGV[11], cjson.encode({entity = 'breaker_state', name = dep,
    action = 'breaker.' .. doc.state, version = 0, cp_version = gv, actor = 'agent',
    ts = ARGV[3], doc = doc}))
end
return {verdict, cjson.encode(doc)}
