-- wrk script: POST a K PLUS request; for generate-token every request gets a new partnerTxnUid.
-- BENCH_TOKENS=N: inquire a random one of the N bulk-loaded tokens (bench/prefill.py) instead
-- of BENCH_TOKEN.
local op = os.getenv("BENCH_OP")
local token = os.getenv("BENCH_TOKEN")
local tokens = tonumber(os.getenv("BENCH_TOKENS") or "0")
local prefix = os.getenv("BENCH_PREFIX") or "b"
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local creds = '"partnerId":"PTR1902369","partnerSecret":"7da57c4eb242435fa3e91bb7a69e2a28",' ..
              '"requestDt":"2019-07-04T18:00:42.411"'

init = function(args)
  math.randomseed(os.time())
end

request = function()
  counter = counter + 1
  local uid = prefix .. counter
  local body
  if op == "generate-token" then
    body = '{"partnerTxnUid":"' .. uid .. '",' .. creds ..
      ',"reference1":"KS1234567","totalAmount":"500","shopImageUrl":"https://shop.example/a.png",' ..
      '"shopName":"Bench Shop","shippingFee":"0","osPlatform":"IOS",' ..
      '"items":[{"itemName":"A","quantity":"1","amount":"500"}],' ..
      '"currencyCode":"THB","currencyExponent":"2"}'
  else
    local t = token
    if tokens > 0 then
      t = string.format("KMCMPT%040dPMT", math.random(1, tokens))
    end
    body = '{"partnerTxnUid":"' .. uid .. '",' .. creds .. ',"tokenId":"' .. t .. '"}'
  end
  return wrk.format(nil, "/kplus/payment/" .. op, nil, body)
end
