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
-- the total rate at RATE requests/s (bench/pace.lua; run from the
-- repository's top directory).

-- Every response is counted by status; done() prints one line
--   BENCH requests=.. rps=.. p50_us=.. p99_us=.. statuses=202:N,...
-- that the shell script parses.  A run is only valid if every status is
-- the expected one and no thread ran out of unique bodies (wrapped=0).

dofile("bench/pace.lua")

-- main state: number the threads and keep them for done()

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

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
    local total, wraps, samples = {}, 0, {}

    for _, t in ipairs(threads) do
        for status, n in pairs(t:get("statuses")) do
            total[status] = (total[status] or 0) + n
        end
        wraps = wraps + t:get("wrapped")
        local s = t:get("sample")
        if s then
            table.insert(samples, s)
        end
    end

    local keys, parts = {}, {}
    for status in pairs(total) do
        table.insert(keys, status)
    end
    table.sort(keys)
    for _, status in ipairs(keys) do
        table.insert(parts, string.format("%d:%d", status, total[status]))
    end

    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d"
        .. " mean_us=%.0f max_us=%d statuses=%s errors=%d,%d,%d,%d"
        .. " wrapped=%d\n",
        summary.requests, summary.duration,
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), latency.mean,
        latency.max, table.concat(parts, ","), e.connect, e.read, e.write,
        e.timeout, wraps))
    for _, s in ipairs(samples) do
        io.write("BENCH sample: " .. string.gsub(s, "\n", " ") .. "\n")
    end
end
