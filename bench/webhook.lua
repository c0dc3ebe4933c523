-- wrk script for the webhook benchmark (bench/webhook-bench.sh).
--
--   wrk -t T -c C -d D -s bench/webhook.lua URL -- DIR MODE [RATE]
--
-- DIR holds requests.0 .. requests.<T-1> from bench/gen-bodies.pl: one
-- disjoint slice of pre-signed unique deliveries per wrk thread, so no
-- body is sent twice in a run (a repeat would be answered 200 duplicate).
-- Records are read lazily, so a thread's init costs nothing and the
-- threads wrk starts one after the other begin on an equal footing.
--
-- MODE "max" sends as fast as the connections allow.  MODE "paced" holds
-- the total rate at RATE requests/s (bench/wrk-common.lua; run from the
-- repository's top directory).

-- Every response is counted by status; done() prints one line
--   BENCH requests=.. rps=.. p50_us=.. p99_us=.. statuses=202:N,...
-- that the shell script parses.  A run is only valid if every status is
-- the expected one and no thread ran out of unique bodies (wrapped=0).

dofile("bench/wrk-common.lua")

-- thread states

function init(args)
    local dir = args[1]
    local mode = args[2] or "max"

    nthreads = tonumber(args[4]) or 1
    statuses = {}
    wrapped = 0
    sample = nil

    path = dir .. "/requests." .. tid
    file = io.open(path, "rb")
    if file == nil then
        error("cannot open " .. path)
    end

    if mode == "paced" then
        delay = pace(tonumber(args[3]), nthreads)
    end
end

function request()
    local len = file:read("*l")
    if len == nil then
        -- out of unique bodies: start over, and say so in done()
        wrapped = wrapped + 1
        file:seek("set", 0)
        len = file:read("*l")
    end
    return file:read(tonumber(len))
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status ~= 202 and sample == nil then
        sample = status .. " " .. string.sub(body, 1, 200)
    end
end

-- main state again, after the run

function done(summary, latency, requests)
    report(summary, latency, threads, { "wrapped" })
end
