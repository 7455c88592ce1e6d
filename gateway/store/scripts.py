"""The Lua the Redis backend runs, and how it is run: EVALSHA, reloaded on NOSCRIPT.

Every script touches only its KEYS, and every KEYS of one call share a hash tag, so each runs on
one Redis Cluster slot. Time inside scripts is Redis's own (`TIME`), never a replica's clock, so
replicas with drifting clocks still share one rate.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

__all__ = [
    "DISCARD_SESSION",
    "GCRA",
    "LOGIN_REJECTED",
    "RELEASE",
    "REPAIR_LEASE",
    "SAVE_SESSION",
    "Client",
    "Script",
]

Client = Redis | RedisCluster

# KEYS: one per rule. ARGV: per rule (emission interval s, burst, shadow 0/1).
# Returns per rule {allowed 0/1, remaining, reset_after ms, retry_after ms}. The request is
# admitted when every non-shadow rule allows it; only then do the allowing rules' TATs move
# (all or nothing, as gateway/store/gcra.py and MemoryLimiter do). A key lives until its TAT
# is in the past: after that an absent key means exactly what it held.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local results, moves, repairs, admitted = {}, {}, {}, true
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local shadow = ARGV[3 * i] == '1'
  -- Distrust what is stored: a value of another type or not a number counts as absent, and a
  -- TAT beyond what GCRA can reach (now + burst * interval) is cut back to that (exhausted).
  local raw = redis.pcall('GET', key)
  local stored = type(raw) == 'string' and tonumber(raw) or nil
  local tat = math.min(stored or now, now + interval * burst)
  if stored ~= nil and stored > tat then repairs[#repairs + 1] = {key, tat} end
  local new_tat = math.max(tat, now) + interval
  local allow_at = new_tat - interval * burst
  if allow_at - now > 1e-6 then  -- a microsecond of slack: float rounding must not refuse
    if not shadow then admitted = false end
    local reset = math.max(tat, now) - now
    results[i] = {0, 0, math.ceil(reset * 1000), math.ceil((allow_at - now) * 1000)}
  else
    local remaining = math.floor((now - allow_at) / interval + 1e-9)
    results[i] = {1, remaining, math.ceil((new_tat - now) * 1000), 0}
    moves[#moves + 1] = {key, new_tat}
  end
end
for _, fix in ipairs(repairs) do  -- written back cut, so a refused call does not re-read it
  local ttl = math.max(1, math.ceil((fix[2] - now) * 1000))
  redis.call('SET', fix[1], string.format('%.6f', fix[2]), 'PX', ttl)
end
if admitted then
  for _, move in ipairs(moves) do
    local ttl = math.max(1, math.ceil((move[2] - now) * 1000))
    redis.call('SET', move[1], string.format('%.6f', move[2]), 'PX', ttl)
  end
end
return results
"""

# KEYS: token hash. ARGV: blob, digest, issued_at, expires_at, refresh_at, expire-at ms.
SAVE_SESSION = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'digest', ARGV[2],
           'issued_at', ARGV[3], 'expires_at', ARGV[4], 'refresh_at', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1
"""

# KEYS: token hash. ARGV: digest of the token that failed. Deletes only that token. pcall: a key
# of another type (written by someone else) is simply not our token.
DISCARD_SESSION = """
if redis.pcall('HGET', KEYS[1], 'digest') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease. ARGV: our random lease value, its TTL ms. Takes over a lease that could never
# expire by itself (no TTL, or far beyond any we set: not ours, and it would block every login
# for as long as it stays); 1 when it did, 0 when a lease with a sane TTL is held.
REPAIR_LEASE = """
local left = redis.call('PTTL', KEYS[1])
if left == -1 or left > 2 * tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: our random lease value. Deletes the lease only if it is still ours.
RELEASE = """
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: blocked-until key, rejection counter. ARGV: first back-off ms, cap ms, how long the
# counter is remembered ms. Records one rejected login for the fleet; returns the back-off ms.
LOGIN_REJECTED = """
local n = redis.pcall('INCR', KEYS[2])
if type(n) ~= 'number' then
  n = 1
  redis.call('SET', KEYS[2], n)
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local ms = math.floor(math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) * 2 ^ math.min(n - 1, 60)))
redis.call('SET', KEYS[1], n, 'PX', math.max(1, ms))
return ms
"""


class Script:
    """One script, run by its SHA; a server that lost its script cache (restart, SCRIPT FLUSH,
    a cluster node it never met) gets the source once through EVAL, which caches it again."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)

    async def __call__(self, client: Client, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)
