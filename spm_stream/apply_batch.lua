-- Apply one Kafka partition's batch of planned events, exactly once, atomically.
--
-- KEYS[1]  watermark (last offset applied from this partition)
-- KEYS[2]  stats hash (counted, duplicates, rejected)
-- KEYS[3…] every other key the batch touches (seen sets, counters, boards)
-- ARGV[1]  TTL in seconds for the touched keys (0 = none)
-- ARGV[2]  JSON: {"ops": [[kind, key_index, field], …],
--                 "events": [[offset, event_id|"", seen_key_index, [op, amount, op, amount…]], …]}
--          events sorted by offset; an empty event_id marks a reject.
--
-- Offsets at or below the watermark were applied before (a redelivery after a
-- crash or rebalance) and are skipped; an event_id already in its seen set is a
-- CRM duplicate and is skipped. Increments are summed per target first, so the
-- cost in Redis is one command per distinct counter, not one per event.
local wm = tonumber(redis.call('GET', KEYS[1]) or '-1')
local ttl = tonumber(ARGV[1])
local batch = cjson.decode(ARGV[2])
local ops = batch['ops']
local sums = {}
local counted, duplicates, rejected, skipped = 0, 0, 0, 0
local last = wm

for _, ev in ipairs(batch['events']) do
  local offset = ev[1]
  if offset <= wm then
    skipped = skipped + 1
  else
    last = offset
    if ev[2] == '' then
      rejected = rejected + 1
    elseif redis.call('SADD', KEYS[ev[3]], ev[2]) == 0 then
      duplicates = duplicates + 1
    else
      counted = counted + 1
      local incs = ev[4]
      for i = 1, #incs, 2 do
        local op = incs[i]
        sums[op] = (sums[op] or 0) + incs[i + 1]
      end
    end
  end
end

for op, amount in pairs(sums) do
  local spec = ops[op]
  if spec[1] == 'hincr' then
    redis.call('HINCRBY', KEYS[spec[2]], spec[3], amount)
  else
    redis.call('ZINCRBY', KEYS[spec[2]], amount, spec[3])
  end
end

if last > wm then
  redis.call('SET', KEYS[1], string.format('%d', last))
  if counted > 0 then redis.call('HINCRBY', KEYS[2], 'counted', counted) end
  if duplicates > 0 then redis.call('HINCRBY', KEYS[2], 'duplicates', duplicates) end
  if rejected > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', rejected) end
  if ttl > 0 then
    for i = 3, #KEYS do redis.call('EXPIRE', KEYS[i], ttl) end
  end
end

return {counted, duplicates, rejected, skipped}
