-- wrk script for scripts/bench-sessions: every request carries a different stored session
-- (the tokens bench-sessions seeded: "bench" + the number padded to 38 digits), in order and
-- split between wrk's threads, so every request is a cache miss that the store answers.
-- SESSIONS (environment) is how many were seeded, WRK_THREADS how many threads wrk runs;
-- past the last session it starts again.
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
end

function init(args)
  step = tonumber(os.getenv("WRK_THREADS") or "1")
  sessions = tonumber(os.getenv("SESSIONS") or "1000000")
  counter = (id or 0) + 1
end

request = function()
  local n = counter
  counter = counter + step
  if counter > sessions then counter = counter - sessions end
  return wrk.format(nil, nil, { ["Cookie"] = string.format("usher_session=bench%038d", n) })
end
