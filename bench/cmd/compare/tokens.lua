-- wrk script of the load comparison: every request carries a bearer token
-- read from a file (one per line), walked in order. Each thread starts at
-- its own part of the list, so with a list longer than any cache a token
-- comes back only after the whole list went by.
-- args: token_file offset threads
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local tokens, n, pos = {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      tokens[n] = "Bearer " .. line
    end
  end
  local offset = tonumber(args[2]) or 0
  local threads = tonumber(args[3]) or 1
  pos = (offset + tid * math.floor(n / threads)) % n
end

function request()
  pos = pos + 1
  if pos > n then pos = 1 end
  return wrk.format(nil, nil, {["Authorization"] = tokens[pos]})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
