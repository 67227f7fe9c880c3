-- wrk script (one thread): send the requests of BENCH_FILE in turn, each line once before any
-- is sent again; one request a line: METHOD<TAB>PATH<TAB>BODY.
-- BENCH_HEADERS: "Name: value" pairs, separated by "|", sent with every request.
local reqs = {}
local i = 0

init = function(args)
  local headers = {}
  for pair in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^|]+") do
    local k, v = pair:match("^([^:]+):%s*(.*)$")
    headers[k] = v
  end
  for line in io.lines(os.getenv("BENCH_FILE")) do
    local m, p, b = line:match("^(%u+)\t([^\t]*)\t(.*)$")
    if b == "" then
      b = nil
    end
    reqs[#reqs + 1] = wrk.format(m, p, headers, b)
  end
end

request = function()
  i = i % #reqs + 1
  return reqs[i]
end
