-- wrk script of the load commands. Every request carries a bearer token
-- read from a file (one per line), walked in order; each thread starts at
-- its own part of the list, so with a list longer than any cache a token
-- comes back only after the whole list went by.
-- With a URI file, every request also names a URI from it, walked the
-- same way. With forwarded set, the request goes to the URL wrk was given
-- (a forward-auth endpoint) and names the URI in
-- X-Forwarded-Method/-Uri/-Host, as Traefik and Caddy send it; otherwise
-- the URI is the request's own path. Without a URI file, every request
-- goes to the URL wrk was given.
-- args: token_file offset threads [uri_file forwarded(0|1) forwarded_host]
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local tokens, n, pos = {}, 0, 0
local uris, m, upos = {}, 0, 0
local forwarded, host = false, ""

local function read(file, prefix)
  local list, k = {}, 0
  for line in io.lines(file) do
    if #line > 0 then
      k = k + 1
      list[k] = prefix .. line
    end
  end
  return list, k
end

function init(args)
  tokens, n = read(args[1], "Bearer ")
  local offset = tonumber(args[2]) or 0
  local threads = tonumber(args[3]) or 1
  pos = (offset + tid * math.floor(n / threads)) % n
  if args[4] and #args[4] > 0 then
    uris, m = read(args[4], "")
    forwarded = args[5] == "1"
    host = args[6] or ""
    upos = (tid * math.floor(m / threads)) % m
  end
end

function request()
  pos = pos + 1
  if pos > n then pos = 1 end
  if m == 0 then
    return wrk.format(nil, nil, {["Authorization"] = tokens[pos]})
  end
  upos = upos + 1
  if upos > m then upos = 1 end
  if forwarded then
    return wrk.format("GET", nil, {
      ["Authorization"] = tokens[pos],
      ["X-Forwarded-Method"] = "GET",
      ["X-Forwarded-Uri"] = uris[upos],
      ["X-Forwarded-Host"] = host,
    })
  end
  return wrk.format("GET", uris[upos], {["Authorization"] = tokens[pos]})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
