-- wrk script for the portal benchmark (bench/portal-bench.sh).
--
--   wrk -t T -c C -d D -s bench/portal.lua URL -- FILE EXPECT ORIGIN [RATE T]
--
-- FILE has one request a line, fields separated by tabs:
--   METHOD  PATH  COOKIE-or-"-"  BODY-or-"-"
-- e.g. one line per user with that user's session cookie, or one login
-- per user.  Requests are taken in turn from the list, each wrk thread
-- starting at its own offset, so the users are spread over the
-- connections.  ORIGIN, when not "-", is sent as the Origin header (the
-- portal's CSRF check wants it on POST).  EXPECT is the status a valid
-- run answers with.  With RATE and T (wrk's -t), the threads together
-- send RATE requests/s (bench/wrk-common.lua; run from the repository's top)
-- instead of as fast as the connections allow: the latency at a given
-- load rather than at saturation.
--
-- done() prints one line that the shell script parses:
--   BENCH requests=.. rps=.. p50_us=.. p99_us=.. statuses=200:N,...
--         bytes=.. errors=connect,read,write,timeout

dofile("bench/wrk-common.lua")

local function split(line)
    local t = {}
    for field in string.gmatch(line, "([^\t]*)\t?") do
        table.insert(t, field)
        if #t == 4 then
            break
        end
    end
    return t
end

function init(args)
    local file = args[1]
    expect = tonumber(args[2]) or 200
    local origin = args[3]

    statuses = {}
    sample = nil
    bytes = 0
    reqs = {}

    for line in io.lines(file) do
        if line ~= "" then
            local f = split(line)
            local headers = {}
            if f[3] ~= nil and f[3] ~= "-" and f[3] ~= "" then
                headers["Cookie"] = f[3]
            end
            if origin ~= nil and origin ~= "-" then
                headers["Origin"] = origin
            end
            local body = nil
            if f[4] ~= nil and f[4] ~= "-" and f[4] ~= "" then
                body = f[4]
                headers["Content-Type"] = "application/json"
            end
            table.insert(reqs, wrk.format(f[1], f[2], headers, body))
        end
    end

    if #reqs == 0 then
        error("no requests in " .. file)
    end

    -- each thread starts somewhere else in the list
    idx = (tid * 7) % #reqs

    if args[4] ~= nil and args[4] ~= "" then
        delay = pace(tonumber(args[4]), tonumber(args[5]) or 1)
    end
end

function request()
    idx = idx % #reqs + 1
    return reqs[idx]
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if body ~= nil then
        bytes = bytes + #body
    end
    if status ~= expect and sample == nil then
        sample = status .. " " .. string.sub(body or "", 1, 200)
    end
end

function done(summary, latency, requests)
    report(summary, latency, threads, { "bytes" })
end
