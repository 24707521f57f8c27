-- bench/soak.lua: wrk's script for bench/soak.sh. Run with as many threads as connections
-- (wrk -tN -cN): one connection per thread, so that each Lua state knows which request an
-- answer belongs to.
--
-- The mix, per connection in a fixed cycle of ten (each connection starts at another
-- place of it): 7 lookups (POST /_matrix/identity/v2/lookup, a body of the pool of
-- bench/soak.py data), 2 /info, 1 requestToken (v2) for an address never asked before.
--
-- Pacing (SOAK_RATE requests/s in all, 0 = as fast as answers come): connection i of N
-- sends on a fixed schedule, one slot every N/SOAK_RATE s, staggered by i/SOAK_RATE;
-- delay() waits for the next slot (whole milliseconds, wrk's timer), never for the
-- previous answer to be late. A slot missed while an answer is late is taken at once,
-- and its latency is then also counted from the slot ("open" histograms, as wrk2 does):
-- open-loop figures, within the limit of one request in flight per connection. A
-- connection still more than a second behind at the end counts the slots it left unused
-- before that second ("missed").
-- Nothing is sent during the last 2 s, so every request sent has had its answer when wrk
-- stops; one that has not is counted as lost.
--
-- Environment: SOAK_DATA (the pools), SOAK_RESULTS (written by done()), SOAK_RATE,
-- SOAK_SECONDS (wrk's -d), SOAK_PHASE (a word: the validations' addresses start with it),
-- SOAK_BUCKET_SECONDS (the interval of the figures over time), SOAK_TOKEN.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clock_id, soak_timespec *ts);
]]
local ts = ffi.new("soak_timespec")
local function now_us()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local data = dofile(os.getenv("SOAK_DATA"))
local rate = tonumber(os.getenv("SOAK_RATE") or "0")
local seconds = tonumber(os.getenv("SOAK_SECONDS") or "60")
local phase = os.getenv("SOAK_PHASE") or "soak"
local bucket_us = tonumber(os.getenv("SOAK_BUCKET_SECONDS") or "60") * 1000000
local token = os.getenv("SOAK_TOKEN") or "soak-token" -- connection i: "soak-token-i"

local CYCLE = { "lookup", "lookup", "info", "lookup", "lookup", "validation", "lookup", "info",
                "lookup", "lookup" }
local function bucket_of(us)
    if us < 1 then
        us = 1
    end
    return math.floor(math.log(us) * 40) -- 2.5% wide; bench/soak.py reads them back
end

local threads = {}
function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

function init(args)
    -- id was set by setup(), in wrk's main Lua state, before this thread's init()
    n_conn = tonumber(os.getenv("SOAK_CONNECTIONS") or "1")
    start_us = now_us()
    stop_us = start_us + (seconds - 2) * 1000000
    interval_us = rate > 0 and n_conn * 1000000 / rate or 0
    next_slot = start_us + (rate > 0 and (id - 1) * 1000000 / rate or 0)
    pos = (id * 3) % #CYCLE -- the connections do not all send the same kind at once
    seq = 0
    math.randomseed(id * 7919 + math.floor(start_us) % 100000)
    counts = {} -- kind -> status -> n
    hist = {} -- bucket index -> kind -> latency bucket -> n
    open = { lookup = {}, info = {}, validation = {} }
    late = {}
    lost = { lookup = 0, info = 0, validation = 0 }
    wrong = { lookup = 0, info = 0, validation = 0 }
    errs = {} -- bucket index -> non-2xx or wrong answers
    pending = nil
    n_sent, n_answered, dumped, missed = 0, 0, 0, 0
    -- its own user and its own client address (behind a trusted proxy) for each connection
    local xff = string.format("10.0.%d.%d", math.floor(id / 250), id % 250 + 1)
    headers_get = { ["X-Forwarded-For"] = xff }
    headers_json = { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = xff,
                     ["Authorization"] = "Bearer " .. token .. "-" .. id }
end

function delay()
    local now = now_us()
    if rate <= 0 then
        slot = now
    else
        slot = next_slot
        next_slot = next_slot + interval_us
    end
    if slot >= stop_us or now >= stop_us then
        if dumped == 0 then
            -- more than a second behind schedule at the end: the slots left unused before
            -- that second (a late second is in the "late" figures)
            if rate > 0 and slot < stop_us - 1000000 then
                missed = math.floor((stop_us - 1000000 - slot) / interval_us) + 1
            end
            soak_dump()
        end
        return 3600000 -- idle until wrk stops
    end
    if slot <= now then
        return 0
    end
    return math.floor((slot - now) / 1000)
end

local function add(t, k, n)
    t[k] = (t[k] or 0) + (n or 1)
end

function request()
    if slot == nil then
        -- not a request to send: wrk checks the syntax of one request from the first thread
        -- before it starts (every request to send comes after a delay())
        return wrk.format("GET", "/_matrix/identity/v2")
    end
    if pending then -- the previous one never got its answer (its connection was lost)
        add(lost, pending.kind)
    end
    local now = now_us()
    pos = pos % #CYCLE + 1
    local kind = CYCLE[pos]
    local req
    pending = { kind = kind, sent = now, slot = slot }
    n_sent = n_sent + 1
    add(late, bucket_of(now - pending.slot))
    if kind == "lookup" then
        local l = data.lookups[math.random(#data.lookups)]
        pending.expect = l.found
        req = wrk.format("POST", "/_matrix/identity/v2/lookup", headers_json, l.body)
    elseif kind == "info" then
        local i = data.infos[math.random(#data.infos)]
        pending.expect = i.hs
        req = wrk.format("GET", i.path, headers_get)
    else
        seq = seq + 1
        local body = string.format(
            '{"client_secret":"soak-secret-%d","email":"%s-%d-%d@soak.gouv.fr","send_attempt":1}',
            id, phase, id, seq)
        req = wrk.format("POST", "/_matrix/identity/v2/validate/email/requestToken", headers_json,
                         body)
    end
    return req
end

function response(status, headers, body)
    local now = now_us()
    local p = pending
    pending = nil
    if p == nil then
        return
    end
    n_answered = n_answered + 1
    local kind = p.kind
    local c = counts[kind]
    if c == nil then
        c = {}
        counts[kind] = c
    end
    add(c, status)
    local ok = status >= 200 and status < 300
    if ok then
        if kind == "lookup" then
            local _, found = string.gsub(body, '"@agent', "")
            ok = found == p.expect
        elseif kind == "info" then
            ok = string.find(body, '"' .. p.expect .. '"', 1, true) ~= nil
        else
            ok = string.find(body, '"sid"', 1, true) ~= nil
        end
        if not ok then
            add(wrong, kind)
        end
    end
    local b = math.floor((p.sent - start_us) / bucket_us)
    if not ok then
        add(errs, b)
    end
    local hb = hist[b]
    if hb == nil then
        hb = {}
        hist[b] = hb
    end
    local hk = hb[kind]
    if hk == nil then
        hk = {}
        hb[kind] = hk
    end
    add(hk, bucket_of(now - p.sent))
    add(open[kind], bucket_of(now - math.min(p.slot, p.sent)))
end

-- This connection's figures, into SOAK_RESULTS.<id>, once it has sent its last request
-- and had its answer (wrk's thread:get cannot copy nested tables: each thread writes its
-- own file).
function soak_dump()
    local out = assert(io.open(os.getenv("SOAK_RESULTS") .. "." .. id, "w"))
    for kind, c in pairs(counts) do
        for status, n in pairs(c) do
            out:write(string.format("count %s %d %d\n", kind, status, n))
        end
    end
    for b, hb in pairs(hist) do
        for kind, hk in pairs(hb) do
            for lb, n in pairs(hk) do
                out:write(string.format("hist %d %s %d %d\n", b, kind, lb, n))
            end
        end
    end
    for kind, hk in pairs(open) do
        for lb, n in pairs(hk) do
            out:write(string.format("open %s %d %d\n", kind, lb, n))
        end
    end
    for lb, n in pairs(late) do
        out:write(string.format("late %d %d\n", lb, n))
    end
    for kind, n in pairs(lost) do
        out:write(string.format("lost %s %d\n", kind, n))
    end
    for kind, n in pairs(wrong) do
        out:write(string.format("wrong %s %d\n", kind, n))
    end
    for b, n in pairs(errs) do
        out:write(string.format("errb %d %d\n", b, n))
    end
    out:write(string.format("missed %d\n", missed))
    out:close()
    dumped = 1
end

-- In wrk's main Lua state, after the threads stopped: what wrk itself counted, and each
-- connection's requests sent and answered (a connection that never wrote its file still
-- tells how many of its requests went unanswered).
function done(summary, latency, requests)
    local out = assert(io.open(os.getenv("SOAK_RESULTS"), "w"))
    for _, t in ipairs(threads) do
        out:write(string.format("thread %d %d %d %d\n", t:get("id"), t:get("n_sent") or 0,
                                t:get("n_answered") or 0, t:get("dumped") or 0))
    end
    local e = summary.errors
    out:write(string.format("errors %d %d %d %d\n", e.connect, e.read, e.write, e.timeout))
    -- the time requests were sent in (wrk's -d less the last 2 s)
    out:write(string.format("duration_us %d\n", (seconds - 2) * 1000000))
    out:write(string.format("bucket_s %d\n", bucket_us / 1000000))
    out:close()
end
