-- wrk script (make compare): POST /v1/status with BATCH newline-separated
-- IDs (text/plain), rotating over IDS_FILE.
local ids, n = {}, 0
for line in io.lines(os.getenv("IDS_FILE")) do n = n + 1; ids[n] = line end
local hdr = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN"), ["Content-Type"] = "text/plain" }
local size = tonumber(os.getenv("BATCH") or "1000")
local bodies, k = {}, 0
for b = 1, 16 do
  local t = {}
  for j = 1, size do t[j] = ids[((b - 1) * size + j - 1) % n + 1] end
  bodies[b] = table.concat(t, "\n")
end
request = function()
  k = k % 16 + 1
  return wrk.format("POST", "/v1/status", hdr, bodies[k])
end
