-- wrk script of the forward-auth comparison. Every request carries a bearer
-- token and names a URI, each read from a file (one per line) and walked in
-- order; each thread starts at its own part of both lists. With forwarded
-- set, the request goes to the URL wrk was given (a forward-auth endpoint)
-- and names the URI in X-Forwarded-Method/-Uri/-Host, as Traefik and Caddy
-- send it; otherwise the URI is the request's own path.
-- args: token_file offset threads uri_file forwarded(0|1) forwarded_host
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
  uris, m = read(args[4], "")
  local offset = tonumber(args[2]) or 0
  local threads = tonumber(args[3]) or 1
  forwarded = args[5] == "1"
  host = args[6] or ""
  pos = (offset + tid * math.floor(n / threads)) % n
  upos = (tid * math.floor(m / threads)) % m
end

function request()
  pos = pos + 1
  if pos > n then pos = 1 end
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
