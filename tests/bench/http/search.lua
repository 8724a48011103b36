-- wrk script for tests/bench/http/run.sh: search requests whose queries
-- rotate through a file of real queries (one a line).
--
--   wrk ... -s search.lua URL -- ragd  QUERIES K THREADS KEY
--       POST /v1/search {"query": Q, "k": K} with "Authorization: Bearer KEY"
--   wrk ... -s search.lua URL -- txtai QUERIES K THREADS
--       GET /search?query=Q&limit=K (txtai's HTTP API)
--
-- THREADS is wrk's -t: thread i of THREADS cycles through queries i,
-- i + THREADS, i + 2 THREADS, ... so every query is sent by one thread only,
-- once per len(QUERIES) requests of all threads together: with ~700 queries a
-- server's small query cache (ragd keeps 256 query vectors per worker) does
-- not answer from memory, however the threads' speeds drift. Every request
-- is formatted once, in init.
--
-- done() prints one line: "wrk-result " and a JSON object with requests,
-- duration_s, requests_per_s, errors (wrk's: connect, read, write, timeout,
-- and status: responses with status >= 400), non_2xx (counted here: any
-- status outside 200-299) and latency p50/p90/p99/max in ms.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local function json_string(s)
   -- Quotes, backslashes and control characters escaped; other bytes (UTF-8
   -- included) are valid in a JSON string as they are.
   return '"' .. s:gsub('[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      return string.format("\\u%04x", c:byte())
   end) .. '"'
end

local function url_encode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
   end))
end

local requests = {}
local pos = 1

function init(args)
   local mode, path, k, nthreads, key = args[1], args[2], tonumber(args[3]), tonumber(args[4]), args[5]
   if (mode ~= "ragd" and mode ~= "txtai") or not path or not k or not nthreads
      or (mode == "ragd" and not key) then
      error("usage: -- ragd QUERIES K THREADS KEY | -- txtai QUERIES K THREADS")
   end
   local f = assert(io.open(path, "r"))
   local n = 0
   for line in f:lines() do
      local q = line:gsub("\r$", "")
      if q ~= "" then n = n + 1 end
      if q ~= "" and n % nthreads == id % nthreads then
         if mode == "ragd" then
            local body = '{"query":' .. json_string(q) .. ',"k":' .. k .. '}'
            table.insert(requests, wrk.format("POST", "/v1/search", {
               ["Content-Type"] = "application/json",
               ["Authorization"] = "Bearer " .. key,
            }, body))
         else
            table.insert(requests, wrk.format("GET", "/search?query=" .. url_encode(q) ..
                                              "&limit=" .. k, {}, nil))
         end
      end
   end
   f:close()
   if #requests == 0 then error("no queries for thread " .. id .. " in " .. path) end
end

local non_2xx = 0

function response(status, _, _)
   if status < 200 or status > 299 then
      non_2xx = non_2xx + 1
      thread_non_2xx = non_2xx -- read by done() through thread:get
   end
end

function request()
   local r = requests[pos]
   pos = pos % #requests + 1
   return r
end

function done(summary, latency, _)
   local e = summary.errors
   local function ms(p) return latency:percentile(p) / 1000.0 end
   local secs = summary.duration / 1e6
   local bad = 0
   for _, t in ipairs(threads) do bad = bad + (t:get("thread_non_2xx") or 0) end
   io.write(string.format(
      'wrk-result {"requests":%d,"duration_s":%.3f,"requests_per_s":%.2f,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
      '"non_2xx":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
      summary.requests, secs, summary.requests / secs,
      e.connect, e.read, e.write, e.timeout, e.status, bad,
      ms(50), ms(90), ms(99), latency.max / 1000.0))
end
