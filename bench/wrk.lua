-- wrk script for `python -m bench`: POSTs the bench's AdmissionReviews round robin, each to its own path
-- (/pods, /secrets, /deployments), and prints one JSON line of totals when done.
-- BENCH_BODIES names a directory holding pods.json, secrets.json and deployments.json; BENCH_PATHS, when set,
-- the comma-separated bodies to send instead (one of them alone: part 1's people's-access figures).
local dir = os.getenv("BENCH_BODIES")
local names = {}
for name in string.gmatch(os.getenv("BENCH_PATHS") or "pods,secrets,deployments", "[^,]+") do
  names[#names + 1] = name
end
local requests_ = {}
local counter = 0

init = function(args)
  -- Explicit headers replace wrk's defaults, Host included: set it here, where wrk.host is known.
  local headers = {["Content-Type"] = "application/json", ["Host"] = wrk.host .. ":" .. wrk.port}
  for i, name in ipairs(names) do
    local file = assert(io.open(dir .. "/" .. name .. ".json", "rb"))
    local body = file:read("*a")
    file:close()
    requests_[i] = wrk.format("POST", "/" .. name, headers, body)
  end
end

request = function()
  counter = counter + 1
  return requests_[(counter % #requests_) + 1]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
