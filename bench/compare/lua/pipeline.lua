-- wrk script (make compare): DEPTH GETs written back to back per send,
-- rotating over IDS_FILE. wrk times the whole pipeline, not each request.
local ids, n = {}, 0
for line in io.lines(os.getenv("IDS_FILE")) do n = n + 1; ids[n] = line end
local hdr = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
local depth = tonumber(os.getenv("DEPTH") or "16")
local reqs, k = {}, 0
init = function(args)
  local i = 0
  for d = 1, 64 do
    local t = {}
    for j = 1, depth do i = i % n + 1; t[j] = wrk.format("GET", "/v1/status/" .. ids[i], hdr) end
    reqs[d] = table.concat(t)
  end
end
request = function() k = k % #reqs + 1; return reqs[k] end
