-- Compare-and-set of one no-show watch by the rules timer (rule 5 of
-- spm_stream/rules/noshow.py): a no-op if the counters agent changed the watch since it
-- was read (the event wins; the next tick looks again).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 1
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
if tonumber(ARGV[3]) >= 0 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return 1
