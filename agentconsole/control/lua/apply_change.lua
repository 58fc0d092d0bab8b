-- One operator change, atomically: compare-and-set on the document's version, write,
-- append the audit entry, bump the global control-plane version, publish the event.
-- The event carries the new document and the control plane's epoch, so agents apply it
-- without re-reading. No epoch while agents hold their last snapshot = a wiped control
-- plane: only fail-closed changes pass until an operator restores or accepts.
-- Exactly once: the outcome is remembered under the client's change id for a while, so a
-- retry after a lost reply answers 'again' with the first outcome instead of a second change.
-- KEYS: 1 entity hash, 2 audit stream, 3 global version counter, 4 epoch, 5 holders' reports,
--       6 this change's id record
-- ARGV: 1 field, 2 mode ('cas' | 'if_absent' | 'unreadable'), 3 expected version (0 = must
--       not exist; in 'unreadable' mode the SHA-1 of the stored value the caller could not
--       read: only deleting it, exactly that value, is allowed),
--       4 new document ('' deletes; contains "version": "__VERSION__"), 5 actor, 6 role,
--       7 action, 8 entity, 9 reason, 10 timestamp, 11 audit max length, 12 channel,
--       13 '1' when allowed without an epoch (a kill during a reset), 14 change id,
--       15 seconds to remember the change id, 16 what the audit's 'before' says in
--       'unreadable' mode (the caller's sanitised description: the raw value is not copied)
local seen = redis.call('GET', KEYS[6])
if seen then
  local sep = string.find(seen, '|', 1, true)
  return {'again', string.sub(seen, sep + 1), tonumber(string.sub(seen, 1, sep - 1))}
end
local epoch = redis.call('GET', KEYS[4])
if not epoch and ARGV[13] ~= '1' and redis.call('HLEN', KEYS[5]) > 0 then
  return {'reset', ''}
end
local epoch_id = ''
if epoch then
  local ok, e = pcall(cjson.decode, epoch)
  if ok and type(e) == 'table' and e['id'] then epoch_id = tostring(e['id']) end
end
-- The document is checked here too, whoever calls: the same rules as the operations table
-- (the allowed values below are rendered from the Python tables when the script is loaded).
--[[RULES]]
local function invalid(why) return {'invalid', why} end
-- which fields of the budgets hash an entity may name, deletes included
local is_cap = string.sub(ARGV[1], 1, 7) == 'tenant:' and string.len(ARGV[1]) > 7
if ARGV[8] == 'tenant_cap' and not is_cap then
  return invalid('a tenant cap is the field tenant:<name>')
end
if ARGV[8] == 'budget' and ARGV[1] ~= 'limits' then
  return invalid('budgets are one document, limits')
end
if ARGV[4] ~= '' then
  local ok, d = pcall(cjson.decode, ARGV[4])
  if not ok or type(d) ~= 'table' then return invalid('the document is not a JSON object') end
  local function get(k) if d[k] == cjson.null then return nil end return d[k] end
  local e = ARGV[8]
  if e == 'flag' then
    if get('name') ~= ARGV[1] then return invalid('a flag document carries its own name') end
    if get('enabled') ~= nil and type(get('enabled')) ~= 'boolean' then
      return invalid('enabled must be true or false')
    end
    local bp = get('rollout_bp')
    if bp ~= nil and (type(bp) ~= 'number' or bp < 0 or bp > 10000 or bp % 1 ~= 0) then
      return invalid('rollout_bp must be a whole number from 0 to 10000')
    end
    if get('type') ~= nil and not FLAG_TYPES[get('type')] then return invalid('unknown flag type') end
  elseif e == 'breaker' then
    if get('dependency') ~= ARGV[1] then return invalid('a breaker names its own dependency') end
    if not BREAKER_MODES[get('mode') or ''] then return invalid('unknown breaker mode') end
    if get('until') ~= nil and type(get('until')) ~= 'number' then
      return invalid('until must be a time (seconds)')
    end
  elseif e == 'kill' then
    if get('target') ~= ARGV[1] then return invalid('a kill names its own target') end
    if not KILL_SCOPES[get('scope') or ''] then return invalid('unknown kill scope') end
  elseif e == 'hold' then
    if not HOLD_KINDS[get('kind') or ''] then return invalid('a hold is a drain or a pause') end
    if not KILL_SCOPES[get('scope') or ''] then return invalid('unknown hold scope') end
    if ARGV[1] ~= tostring(get('kind')) .. ':' .. tostring(get('target')) then
      return invalid('a hold names its own kind and target')
    end
  elseif e == 'tenant_cap' then
    local usd = get('usd')
    if type(usd) ~= 'number' or usd < 0 or usd ~= usd or usd == math.huge then
      return invalid('usd must be a number, zero or more')
    end
    if get('tenant') ~= string.sub(ARGV[1], 8) then
      return invalid('a tenant cap names its own tenant')
    end
  elseif e == 'budget' then
    for k, v in pairs(d) do
      if LIMITS[k] and (type(v) ~= 'number' or v < 0 or v ~= v or v == math.huge) then
        return invalid(k .. ' must be a number, zero or more')
      end
    end
  end
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local curver = 0
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' and tonumber(doc['version']) then
    curver = tonumber(doc['version'])
  end
end
local before = cur or ''
if ARGV[2] == 'if_absent' then
  if cur then return {'exists', cur} end
elseif ARGV[2] == 'unreadable' then
  -- a document that does not parse (or carries no version) has no version to compare:
  -- the value itself is compared, and it may only be deleted (a lift)
  if ARGV[4] ~= '' then return invalid('an unreadable document can only be deleted') end
  if not cur or redis.sha1hex(cur) ~= ARGV[3] then return {'conflict', cur or ''} end
  before = ARGV[16]
elseif tonumber(ARGV[3]) ~= (cur and curver or 0) or (cur and tonumber(ARGV[3]) == 0) then
  return {'conflict', cur or ''}
end
local newver = curver + 1
local new = ARGV[4]
if new == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  local marker = '"version":"__VERSION__"'
  local s, e = string.find(new, marker, 1, true)
  if s then
    new = string.sub(new, 1, s - 1) .. '"version":' .. newver .. string.sub(new, e + 1)
  end
  redis.call('HSET', KEYS[1], ARGV[1], new)
end
local gv = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], '*',
  'ts', ARGV[10], 'actor', ARGV[5], 'role', ARGV[6], 'action', ARGV[7],
  'entity', ARGV[8], 'target', ARGV[1], 'before', before, 'after', new,
  'reason', ARGV[9], 'cp_version', gv, 'change_id', ARGV[14])
redis.call('SET', KEYS[6], gv .. '|' .. new, 'EX', tonumber(ARGV[15]))
local meta = cjson.encode({entity = ARGV[8], name = ARGV[1], action = ARGV[7],
  version = newver, cp_version = gv, actor = ARGV[5], ts = ARGV[10], epoch = epoch_id})
-- the document goes in verbatim (re-encoding would round its numbers)
local doc = new
if doc == '' then doc = 'null' end
redis.call('PUBLISH', ARGV[12], string.sub(meta, 1, -2) .. ',"doc":' .. doc .. '}')
return {'ok', new, gv}
