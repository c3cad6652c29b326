-- wrk script (make compare): GET /v1/status/<id>, rotating over IDS_FILE,
-- bearer token from TOKEN.
local ids, n = {}, 0
for line in io.lines(os.getenv("IDS_FILE")) do n = n + 1; ids[n] = line end
local hdr = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
local i = 0
request = function()
  i = i % n + 1
  return wrk.format("GET", "/v1/status/" .. ids[i], hdr)
end
