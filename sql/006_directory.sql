-- 006: the consolidated annuaire fed by `annuaire sync` from each ministry's LDAP
-- directory or LDIF export.

-- One row per configured source, with what an incremental run needs next time.
CREATE TABLE annuaire.sync_sources (
    name          text        NOT NULL,
    ministry      text        NOT NULL,
    priority      integer     NOT NULL, -- lower wins when two sources claim one address
    cookie        text,                 -- RFC 4533 cookie / change-polling mark, with the data
    last_full_at  timestamptz,
    entries       bigint      NOT NULL DEFAULT 0, -- live entries after the last applied run
    CONSTRAINT sync_sources_pkey PRIMARY KEY (name)
);

-- Entries as each source has them, keyed by source + stable key (never the DN).
CREATE TABLE annuaire.directory_entries (
    source          text        NOT NULL,
    key             text        NOT NULL, -- entryUUID, objectGUID or (weaker) the DN
    dn              text        NOT NULL,
    mails           text[]      NOT NULL DEFAULT '{}', -- normalised
    display_name    text,
    given_name      text,
    surname         text,
    entity          text,                 -- entity of membership
    title           text,
    mobile          text,                 -- as the directory has it
    mobile_e164     text,                 -- digits, no '+'
    hidden          boolean     NOT NULL DEFAULT false, -- kept out of directory search
    disabled        boolean     NOT NULL DEFAULT false,
    content_hash    text        NOT NULL, -- of the mapped fields: tells a change
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_changed_at timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,          -- soft delete; back to NULL if it reappears
    -- No foreign keys here or below: `annuaire sync` writes these tables alone, in
    -- one transaction per source, and per-row checks would dominate a full load.
    CONSTRAINT directory_entries_pkey PRIMARY KEY (source, key)
);
-- Which entries claim an address: how an incremental run finds the other claimants of
-- the addresses it touches. (Kept through bulk runs; 007 turns its fastupdate off.)
CREATE INDEX directory_entries_mails_idx ON annuaire.directory_entries USING gin (mails);
-- The soft-deleted, for the purge at the start of every run.
CREATE INDEX directory_entries_deleted_idx ON annuaire.directory_entries (source, deleted_at)
    WHERE deleted_at IS NOT NULL;

-- The consolidated annuaire: one row per address, owned by the winning entry.
CREATE TABLE annuaire.directory_addresses (
    address text NOT NULL,
    source  text NOT NULL,
    key     text NOT NULL,
    CONSTRAINT directory_addresses_pkey PRIMARY KEY (address)
);
CREATE INDEX directory_addresses_entry_idx ON annuaire.directory_addresses (source, key);

CREATE TABLE annuaire.sync_runs (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    source      text        NOT NULL,
    mode        text        NOT NULL, -- full, incremental, dry-run
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL DEFAULT now(),
    status      text        NOT NULL, -- success, partial, refused, failed
    added       integer     NOT NULL DEFAULT 0,
    changed     integer     NOT NULL DEFAULT 0,
    removed     integer     NOT NULL DEFAULT 0,
    unchanged   integer     NOT NULL DEFAULT 0,
    rejected    integer     NOT NULL DEFAULT 0,
    conflicts   integer     NOT NULL DEFAULT 0,
    error       text,
    report      jsonb       NOT NULL DEFAULT '[]', -- rejected entries (DN, reason), conflicts
    CONSTRAINT sync_runs_pkey PRIMARY KEY (id),
    CONSTRAINT sync_runs_status_check CHECK (status IN ('success', 'partial', 'refused', 'failed'))
);
CREATE INDEX sync_runs_source_idx ON annuaire.sync_runs (source, started_at DESC);
