package redisquota

import "github.com/redis/go-redis/v9"

// The scripts keep, in the tenant's hash KEYS[1], the counted use (o, b,
// present only while the tenant is counted), the open reservations' total
// (ro, rb), the epoch of the count (ep) and the token of a recount in
// progress (tok). Dropping the count deletes o, b, ep and tok and keeps
// ro and rb, which always equal the sum over KEYS[2]. Every reply is
// {code, objects, bytes} or {code}.

// drop is the Lua that drops the tenant's count.
const drop = `redis.call('HDEL', KEYS[1], 'o', 'b', 'ep', 'tok')
`

// unreserve is the Lua of a function removing reservation g.
const unreserve = `local function unreserve(g)
  local go = tonumber(redis.call('HGET', KEYS[2], g .. ':o'))
  if not go then return nil end
  local gb = tonumber(redis.call('HGET', KEYS[2], g .. ':b')) or 0
  local ge = redis.call('HGET', KEYS[2], g .. ':e')
  redis.call('HDEL', KEYS[2], g .. ':o', g .. ':b', g .. ':e')
  redis.call('ZREM', KEYS[3], g)
  redis.call('HINCRBY', KEYS[1], 'ro', -go)
  redis.call('HINCRBY', KEYS[1], 'rb', -gb)
  return {go, gb, ge}
end
`

// reserveScript: KEYS s, r, d; ARGV id, objects, bytes, quota objects,
// quota bytes, lease ms. Codes: 1 held, -1 not counted, -2 reservation
// gone, -3 over the object quota, -4 over the byte quota.
var reserveScript = redis.NewScript(unreserve + `
if redis.call('HEXISTS', KEYS[1], 'o') == 0 then return {-1, 0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)) do
  unreserve(g)
end
local id = ARGV[1]
local no, nb = tonumber(ARGV[2]), tonumber(ARGV[3])
local qo, qb = tonumber(ARGV[4]), tonumber(ARGV[5])
local open = redis.call('HEXISTS', KEYS[2], id .. ':o') == 1
if no == 0 and not open then return {-2, 0, 0} end
local s = redis.call('HMGET', KEYS[1], 'o', 'b', 'ro', 'rb', 'ep')
local uo, ub = tonumber(s[1]) or 0, tonumber(s[2]) or 0
local ro, rb = tonumber(s[3]) or 0, tonumber(s[4]) or 0
if no > 0 then
  if qo > 0 and uo + ro + no > qo then return {-3, uo, ub} end
  if qb > 0 and ub + rb >= qb then return {-4, uo, ub} end
end
if qb > 0 and ub + rb + nb > qb then return {-4, uo, ub} end
if not open then redis.call('HSET', KEYS[2], id .. ':e', s[5] or '') end
redis.call('HINCRBY', KEYS[2], id .. ':o', no)
redis.call('HINCRBY', KEYS[2], id .. ':b', nb)
redis.call('HINCRBY', KEYS[1], 'ro', no)
redis.call('HINCRBY', KEYS[1], 'rb', nb)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), id)
return {1, uo, ub}
`)

// commitScript: KEYS s, r, d; ARGV id. Codes: 1 committed (use
// follows), -1 the reservation is gone or of another epoch: count dropped.
var commitScript = redis.NewScript(unreserve + `
local r = unreserve(ARGV[1])
local ep = redis.call('HGET', KEYS[1], 'ep')
if not r or redis.call('HEXISTS', KEYS[1], 'o') == 0 or ep ~= r[3] then
  ` + drop + `  return {-1, 0, 0}
end
return {1, redis.call('HINCRBY', KEYS[1], 'o', r[1]), redis.call('HINCRBY', KEYS[1], 'b', r[2])}
`)

// releaseScript: KEYS s, r, d; ARGV id.
var releaseScript = redis.NewScript(unreserve + `
unreserve(ARGV[1])
return {1}
`)

// subtractScript: KEYS s; ARGV epoch, objects, bytes. Codes: 1 subtracted
// (use follows), -1 not counted in that epoch: count dropped.
var subtractScript = redis.NewScript(`
local ep = redis.call('HGET', KEYS[1], 'ep')
if ARGV[1] == '' or redis.call('HEXISTS', KEYS[1], 'o') == 0 or ep ~= ARGV[1] then
  ` + drop + `  return {-1, 0, 0}
end
return {1, redis.call('HINCRBY', KEYS[1], 'o', -tonumber(ARGV[2])), redis.call('HINCRBY', KEYS[1], 'b', -tonumber(ARGV[3]))}
`)

// beginScript: KEYS s; ARGV token. Codes: 0 already counted, 1 started.
var beginScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'o') == 1 then return {0} end
redis.call('HSET', KEYS[1], 'tok', ARGV[1])
return {1}
`)

// resetScript: KEYS s; ARGV token, objects, bytes. Codes: 1 installed,
// 0 already counted, -1 the recount was spoiled.
var resetScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'o') == 1 then return {0} end
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] then return {-1} end
redis.call('HSET', KEYS[1], 'o', ARGV[2], 'b', ARGV[3], 'ep', ARGV[1])
redis.call('HDEL', KEYS[1], 'tok')
return {1}
`)
