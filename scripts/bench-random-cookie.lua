-- wrk script for scripts/bench-auth: every request carries a different random session cookie,
-- so every one is a cache miss that asks the database (what spraying random cookies costs).
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local seeded = false
request = function()
  if not seeded then
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
    seeded = true
  end
  local t = {}
  for i = 1, 43 do
    local n = math.random(1, 64)
    t[i] = chars:sub(n, n)
  end
  return wrk.format(nil, nil, { ["Cookie"] = "usher_session=" .. table.concat(t) })
end
