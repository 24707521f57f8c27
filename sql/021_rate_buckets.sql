-- 021: the rate limits that guard mail and costly outside calls (requestToken and
-- store-invite per IP, user and address; account/register per IP; the directory
-- search quotas) are token buckets kept here, so that they hold across every
-- `serve` instance on the database. The hot-path limits (lookup, unbind) stay in
-- each instance's memory (core/ratelimit.c), which also checks every shared limit
-- first: what an instance refuses from its own grants never reaches this table.
--
-- UNLOGGED: a take is a write on every request under a shared limit, and the buckets
-- are not worth a WAL record each. After a crash of PostgreSQL (or on a promoted
-- replica, which never had the rows) the table is empty: every bucket starts full.
--
-- One row per (limit, key): key_hash is an HMAC-SHA256 of the limit's name and the key
-- (an address, a user ID, a client IP or its /64) under a key derived from the signing
-- key, which is not in the database: pseudonymised, never the key itself.
-- tokens: what was left at updated_at; the refill (one token per interval) is
--   computed from the elapsed time by the statement that takes a token.
-- granted: whether the last take was allowed (what that statement returns).
-- full_at: when the bucket is full again; a full bucket is the same as no row, so
--   rows past it are deleted by serve's housekeeping thread.
CREATE UNLOGGED TABLE annuaire.rate_buckets (
    name text NOT NULL,
    key_hash bytea NOT NULL,
    tokens double precision NOT NULL,
    granted boolean NOT NULL,
    updated_at timestamptz NOT NULL,
    full_at timestamptz NOT NULL,
    CONSTRAINT rate_buckets_pkey PRIMARY KEY (name, key_hash),
    CONSTRAINT rate_buckets_key_hash_len CHECK (octet_length(key_hash) = 32)
);
CREATE INDEX rate_buckets_full_at_idx ON annuaire.rate_buckets (full_at);
