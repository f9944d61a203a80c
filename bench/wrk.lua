-- One wrk script for every HTTP measurement, driven by the environment:
--   BENCH_METHOD (GET), BENCH_PATH (may hold {id}), BENCH_ID_MAX (ids 1..max for {id}),
--   BENCH_BODY (a JSON body), BENCH_AUTH (a bearer key).
-- `done` prints one JSON line that bench/wrk.py reads.
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1")
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")

wrk.method = method
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end

request = function()
  local target = path:gsub("{id}", tostring(math.random(1, id_max)))
  return wrk.format(nil, target)
end

done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "http_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
