-- Apply one Kafka partition's batch of planned events, exactly once, atomically.
--
-- KEYS[1]  watermark (last offset applied from this partition)
-- KEYS[2]  stats hash (counted, duplicates, rejected)
-- KEYS[3…] every other key the batch touches (seen sets, counters, boards)
-- ARGV[1]  MessagePack: {"ops": [[kind, key_index, field], …],
--                 "plans": [[op, amount, op, amount…], …],
--                 "offsets": [offset, …], "ids": [event_id|"", …], "plan": [plan_index|0, …],
--                 "runs": [[seen_key_index|0, first, last], …],
--                 "watches": [[event_position, watch], …],
--                 "outcomes": [[event_position, outcome], …] (see count_outcome below),
--                 "expire": [[key_index, ttl_seconds], …], "watch_ttl": seconds,
--                 "uses": [[plan_index, events], …] (outcomes and rejects aside),
--                 "unique": no event_id twice in the batch}
--          one column entry per event, sorted by offset; an empty event_id marks a
--          reject. Events with the same increments share a plan (most of a batch is a
--          few reps' calls and e-mails of a day). The runs cover the events in order, a
--          run being a stretch of events whose ids go in one seen set (0: rejects): most
--          of a batch is one UTC day, so one run.
--          watch: [key_index, at_ms, json, due_key_index, due_epoch|-1, meeting_id,
--                  leads_key_index, lead_id|"", watch_key_prefix]: a meeting's new no-show
--          watch state (spm_stream/rules/noshow.py), written in offset order, last writer by
--          event time (at_ms) wins, so a late "booked" cannot reopen a meeting held.
--
-- Offsets at or below the watermark were applied before (a redelivery after a
-- crash or rebalance) and are skipped; an event_id already in its seen set is a
-- CRM duplicate and is skipped. The seen sets are asked about the whole batch at
-- once (SMISMEMBER) and the new ids added at once; a plan's increments are
-- multiplied by how many of its events count and summed per target. So the
-- commands a batch costs grow with its distinct counters and seen sets, not with
-- its events.
-- Op kinds: hincr (HINCRBY, summed), zmin (ZADD LT: keep the smallest score), sadd
-- (SADD the member; the amount is unused).
-- Every check comes before the first write, so the script applies a batch whole or
-- not at all: {counted, duplicates, rejected, skipped}, or {'overflow', key, field,
-- offset…} when a counter would pass its limit (nothing written).
local wm = tonumber(redis.call('GET', KEYS[1]) or '-1')
local batch = cmsgpack.unpack(ARGV[1])
local watch_ttl = batch['watch_ttl']

-- The no-show rules 3 and 4 of spm_stream/rules/noshow.py (write, rebooked; fold states
-- both): last writer wins by event time, and a later report keeps what it does not say.
-- A batch often reports a meeting twice (booked, then held): the watches are folded here,
-- each key read at most once, and only the final states written, once each, at the end.
local CARRIED = {'lead_id', 'lead_name', 'source', 'scheduled_for'}

-- watch key -> {at = ms, raw = JSON or nil, doc = decoded or nil} as the batch leaves it
-- (false: no watch), and the keys to write; meeting -> {due key index, epoch or -1};
-- leads key index -> {lead -> meeting or false}, and the leads to write.
local states, dirty, dues, lead_of, dirty_leads = {}, {}, {}, {}, {}

local function state_at(key)
  local s = states[key]
  if s == nil then
    local raw = redis.call('GET', key)
    if raw then
      local doc = cjson.decode(raw)
      s = {at = doc['at'], raw = raw, doc = doc}
    else
      s = false
    end
    states[key] = s
  end
  return s
end

local function doc_of(s)
  if s.doc == nil then s.doc = cjson.decode(s.raw) end
  return s.doc
end

local function put_watch(w)
  local key, at, member = KEYS[w[1]], w[2], w[6]
  local before = state_at(key)
  if before and before.at > at then return end
  local state = {at = at, raw = w[3]}
  if before then
    local old, new, filled = doc_of(before), cjson.decode(w[3]), false
    for _, name in ipairs(CARRIED) do
      if (new[name] == nil or new[name] == cjson.null) and old[name] ~= nil and old[name] ~= cjson.null then
        new[name], filled = old[name], true
      end
    end
    state.doc = new
    if filled then state.raw = nil end
  end
  states[key], dirty[key] = state, true
  dues[member] = {w[4], w[5]}
  local lead = w[8]
  if lead == '' then return end
  -- Rule 4: a report of another meeting of the same lead closes the earlier meeting's
  -- open no-show, unless that no-show is newer.
  local leads = lead_of[w[7]]
  if leads == nil then
    leads = {}
    lead_of[w[7]], dirty_leads[w[7]] = leads, {}
  end
  local prev = leads[lead]
  if prev == nil then
    prev = redis.call('HGET', KEYS[w[7]], lead) or false
  end
  if prev and prev ~= member then
    local prev_key = w[9] .. prev
    local earlier = state_at(prev_key)
    if earlier then
      local old = doc_of(earlier)
      if old['state'] == 'no_show' and old['at'] <= at then
        old['state'], old['closed_by'], old['at'], old['due'] = 'closed', 'rebooked', at, cjson.null
        states[prev_key], dirty[prev_key] = {at = at, doc = old}, true
        dues[prev] = {w[4], -1}
      end
    end
  end
  leads[lead] = member
  dirty_leads[w[7]][lead] = true
end

-- The folded watches, the due index and the lead index, each key written once.
local function write_watches()
  for key in pairs(dirty) do
    local s = states[key]
    redis.call('SET', key, s.raw or cjson.encode(s.doc), 'EX', watch_ttl)
  end
  for member, due in pairs(dues) do
    if due[2] >= 0 then
      redis.call('ZADD', KEYS[due[1]], due[2], member)
    else
      redis.call('ZREM', KEYS[due[1]], member)
    end
  end
  for index, written in pairs(dirty_leads) do
    for lead in pairs(written) do
      redis.call('HSET', KEYS[index], lead, lead_of[index][lead])
    end
  end
end

-- Redis caps a command's arguments only by memory, Lua's unpack by its C stack.
local CHUNK = 1000

local function each_chunk(list, fn)
  for i = 1, #list, CHUNK do
    fn(unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
end

local ops, plans = batch['ops'], batch['plans']
local offsets, ids, plan_of, runs = batch['offsets'], batch['ids'], batch['plan'], batch['runs']
local watch_at = {}
for _, pw in ipairs(batch['watches']) do watch_at[pw[1]] = pw[2] end
local outcome_at = {}
for _, po in ipairs(batch['outcomes']) do outcome_at[po[1]] = po[2] end

-- The ids of this batch each seen set already holds, asked run by run. Replayed events are
-- asked too (their answer is never read: they are skipped below), so the ids go to
-- SMISMEMBER as they lie in the column, without a list built per event.
local known, fresh, any_known = {}, {}, false
for _, run in ipairs(runs) do
  local seen, first, last = run[1], run[2], run[3]
  if seen > 0 then
    local set = known[seen]
    if set == nil then
      set = {}
      known[seen], fresh[seen] = set, {}
    end
    for from = first, last, CHUNK do
      local reply = redis.call('SMISMEMBER', KEYS[seen], unpack(ids, from, math.min(from + CHUNK - 1, last)))
      for j = 1, #reply do
        if reply[j] == 1 then
          set[ids[from + j - 1]] = true
          any_known = true
        end
      end
    end
  end
end

-- One outcome per meeting (spm_stream/counting/outcomes.py): a meeting counts as the strongest
-- outcome reported for it (no-show 3 > canceled 2 > held 1), between equals the earliest
-- by event time, then by event id. A report that beats the counted one takes its count
-- back, in the counter fields recorded with it; one that does not adds nothing.
-- outcome: [record_key_index, rank, type, [[key_index, field], ...], at_ms, event_id]
-- (the fields its own plan counts it in). A record keeps those keys relative to the
-- partition's shard (batch['shard']), so state rebuilt under another prefix is the same;
-- a take-back names its key by shard .. suffix: the same hash tag, the same cluster slot.
local records, changed, take_back = {}, {}, {}
local shard = batch['shard']

local function beats(o, record)
  if not record then return true end
  if o[2] ~= record['rank'] then return o[2] > record['rank'] end
  if o[5] ~= record['at'] then return o[5] < record['at'] end
  return o[6] < record['id']
end

local function count_outcome(o)
  local record = records[o[1]]
  if record == nil then
    local raw = redis.call('GET', KEYS[o[1]])
    record = raw and cjson.decode(raw) or false
    records[o[1]] = record
  end
  if not beats(o, record) then return false end
  if record then
    for _, kf in ipairs(record['ops']) do take_back[#take_back + 1] = kf end
  end
  local fields = {}
  for _, kf in ipairs(o[4]) do
    fields[#fields + 1] = {string.sub(KEYS[kf[1]], #shard + 1), kf[2]}
  end
  records[o[1]] = {rank = o[2], type = o[3], ops = fields, at = o[5], id = o[6]}
  changed[o[1]] = true
  return true
end

local uses = {}
local counted, duplicates, rejected, skipped = 0, 0, 0, 0
local last = wm
local counted_at, watch_list = {}, {}

-- Most batches replay nothing and hold no id seen before or twice ("unique": the caller
-- checked the ids among themselves): then every event but the rejects counts, the plans'
-- uses come counted (outcomes aside, which are counted here, in order), and no loop per
-- event is needed. Any other batch takes the loop, which judges each event.
local whole = offsets[1] > wm and batch['unique'] and not any_known
if whole then
  for _, run in ipairs(runs) do
    if run[1] == 0 then
      rejected = rejected + run[3] - run[2] + 1
    else
      counted = counted + run[3] - run[2] + 1
    end
  end
  last = offsets[#offsets]
  for _, pu in ipairs(batch['uses']) do uses[pu[1]] = pu[2] end
  for _, po in ipairs(batch['outcomes']) do
    if count_outcome(po[2]) then
      local plan = plan_of[po[1]]
      uses[plan] = (uses[plan] or 0) + 1
    end
  end
  for _, pw in ipairs(batch['watches']) do watch_list[#watch_list + 1] = pw[2] end
end

for _, run in ipairs(whole and {} or runs) do
  local seen, first, final = run[1], run[2], run[3]
  local set, new = known[seen], fresh[seen]
  for i = first, final do
    local offset = offsets[i]
    if offset <= wm then
      skipped = skipped + 1
    else
      last = offset
      local id = ids[i]
      if seen == 0 then
        rejected = rejected + 1
      elseif set[id] then
        duplicates = duplicates + 1
      else
        -- A second copy later in this batch is a duplicate too.
        set[id] = true
        new[#new + 1] = id
        counted = counted + 1
        counted_at[#counted_at + 1] = i
        local o = outcome_at[i]
        if o == nil or count_outcome(o) then
          uses[plan_of[i]] = (uses[plan_of[i]] or 0) + 1
        end
        if watch_at[i] then watch_list[#watch_list + 1] = watch_at[i] end
      end
    end
  end
end

-- Lua's numbers are doubles, exact for integers up to 2^53 (every single increment is,
-- spm_stream/counting/planning.py checks it). A target's sum is kept as parts that each
-- stay exact, and each part is one HINCRBY, which Redis adds in 64-bit integers.
local EXACT = 9007199254740991
-- A counter may not pass 2^62, so HINCRBY (64-bit) can never fail halfway through a
-- batch and leave it half applied. The check reads the counter, so it is made only for
-- the targets this batch adds 2^16 or more to (money, mostly). A batch that adds less
-- still counts at least one new event of that counter's scope and day, so crossing the
-- 2^62 between the limit and HINCRBY's end unchecked takes over 2^46 batches: 7e13
-- events of one scope on one day, more than any log holds.
local LIMIT, CHECK_FROM = 4611686018427387904, 65536
local sums, mins, members = {}, {}, {}

local function add(op, amount)
  local parts = sums[op]
  if parts == nil then
    sums[op] = {amount}
    return
  end
  local s = parts[#parts] + amount
  if s > EXACT or s < -EXACT then parts[#parts + 1] = amount else parts[#parts] = s end
end

for plan, times in pairs(uses) do
  local incs = plans[plan]
  for i = 1, #incs, 2 do
    local op, amount = incs[i], incs[i + 1]
    local kind = ops[op][1]
    if kind == 'zmin' then
      if mins[op] == nil or amount < mins[op] then mins[op] = amount end
    elseif kind == 'sadd' then
      members[op] = true
    elseif math.abs(amount * times) <= EXACT then
      add(op, amount * times)
    else
      for _ = 1, times do add(op, amount) end
    end
  end
end

-- Before any write: a counter this batch would take past LIMIT refuses it whole, and
-- names the events that feed it, which the caller dead-letters before applying again.
for op, parts in pairs(sums) do
  local spec = ops[op]
  do
    local total = 0
    for _, part in ipairs(parts) do total = total + part end
    if total >= CHECK_FROM or total <= -CHECK_FROM then
      local now = tonumber(redis.call('HGET', KEYS[spec[2]], spec[3]) or '0')
      if now + total > LIMIT or now + total < -LIMIT then
        local feeding = {'overflow', KEYS[spec[2]], spec[3]}
        if whole then  -- every event of a seen set counted
          for _, run in ipairs(runs) do
            if run[1] > 0 then
              for i = run[2], run[3] do counted_at[#counted_at + 1] = i end
            end
          end
        end
        for _, i in ipairs(counted_at) do
          local incs = plans[plan_of[i]]
          for j = 1, #incs, 2 do
            if incs[j] == op then
              feeding[#feeding + 1] = offsets[i]
              break
            end
          end
        end
        return feeding
      end
    end
  end
end

for _, w in ipairs(watch_list) do put_watch(w) end
write_watches()
for _, kf in ipairs(take_back) do redis.call('HINCRBY', shard .. kf[1], kf[2], -1) end
for index in pairs(changed) do
  redis.call('SET', KEYS[index], cjson.encode(records[index]), 'EX', batch['outcome_ttl'])
end

if whole then  -- the ids go in as they lie in the column
  for _, run in ipairs(runs) do
    local seen, first, final = run[1], run[2], run[3]
    if seen > 0 then
      for from = first, final, CHUNK do
        redis.call('SADD', KEYS[seen], unpack(ids, from, math.min(from + CHUNK - 1, final)))
      end
    end
  end
end
for seen, new in pairs(fresh) do
  if #new > 0 then
    each_chunk(new, function(...) redis.call('SADD', KEYS[seen], ...) end)
  end
end

-- %d: Lua 5.1 would print integers above 1e14 in exponent form.
for op, parts in pairs(sums) do
  local spec = ops[op]
  local key, field = KEYS[spec[2]], spec[3]
  for _, part in ipairs(parts) do
    redis.call('HINCRBY', key, field, string.format('%d', part))
  end
end
for op, amount in pairs(mins) do
  local spec = ops[op]
  redis.call('ZADD', KEYS[spec[2]], 'LT', string.format('%d', amount), spec[3])
end
for op in pairs(members) do
  local spec = ops[op]
  redis.call('SADD', KEYS[spec[2]], spec[3])
end

if last > wm then
  redis.call('SET', KEYS[1], string.format('%d', last))
  if counted > 0 then redis.call('HINCRBY', KEYS[2], 'counted', counted) end
  if duplicates > 0 then redis.call('HINCRBY', KEYS[2], 'duplicates', duplicates) end
  if rejected > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', rejected) end
  for _, pair in ipairs(batch['expire']) do
    redis.call('EXPIRE', KEYS[pair[1]], pair[2])
  end
end

return {counted, duplicates, rejected, skipped}
