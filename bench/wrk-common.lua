-- What the wrk scripts (bench/webhook.lua, bench/portal.lua) share, loaded
-- with dofile("bench/wrk-common.lua") from the repository's top directory.
--
-- pace(rate, nthreads) returns a function for wrk's delay(): each of the
-- nthreads threads hands out send slots nthreads * 1000 / rate ms apart,
-- so all together hold RATE requests/s, and a connection waits for its
-- slot.  wrk measures a request's latency from when it is sent, so the
-- wait is not counted (wrk2 is not in Debian; this is the same idea
-- without wrk2's coordinated-omission correction).

local ffi = require("ffi")

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
int clock_gettime(int clock_id, bench_timespec_t *tp);
]]

local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec_t")

local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

function pace(rate, nthreads)
    if rate == nil or rate <= 0 then
        error("pacing needs a rate above 0")
    end

    local interval = nthreads * 1000 / rate
    local next_slot = nil

    return function()
        local now = now_ms()
        if next_slot == nil or next_slot < now then
            next_slot = now
        end
        local wait = next_slot - now
        next_slot = next_slot + interval
        return wait
    end
end

-- setup(thread), wrk's hook in the main state: numbers the threads (their
-- "tid") and keeps them in `threads` for done() to report on

threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

-- report(summary, latency, threads, counters): done()'s one line for the
-- shell scripts,
--   BENCH requests=.. rps=.. p50_us=.. p99_us=.. statuses=200:N,...
--         errors=connect,read,write,timeout <counter>=..
-- with the statuses counted by every thread (its "statuses" table), the
-- named per-thread counters summed, then up to one "BENCH sample:" line
-- per thread (its "sample": the first unexpected answer)
function report(summary, latency, threads, counters)
    local total, samples, sums = {}, {}, {}

    for _, t in ipairs(threads) do
        for status, n in pairs(t:get("statuses")) do
            total[status] = (total[status] or 0) + n
        end
        for _, name in ipairs(counters) do
            sums[name] = (sums[name] or 0) + t:get(name)
        end
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

    local extra = {}
    for _, name in ipairs(counters) do
        table.insert(extra, string.format(" %s=%d", name, sums[name]))
    end

    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d"
        .. " mean_us=%.0f max_us=%d statuses=%s errors=%d,%d,%d,%d%s\n",
        summary.requests, summary.duration,
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), latency.mean,
        latency.max, table.concat(parts, ","), e.connect, e.read, e.write,
        e.timeout, table.concat(extra)))
    for _, s in ipairs(samples) do
        io.write("BENCH sample: " .. string.gsub(s, "\n", " ") .. "\n")
    end
end
