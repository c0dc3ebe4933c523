-- Pacing for the wrk scripts (bench/webhook.lua, bench/portal.lua), loaded
-- with dofile("bench/pace.lua") from the repository's top directory.
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
