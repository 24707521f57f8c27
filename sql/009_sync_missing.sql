-- 009: removals wait for confirmation. An entry absent from a complete read of its
-- source is "missing": still a live entry (it keeps its addresses, the owner view and
-- internal-info still see it), removed only when a later read, past the grace, still
-- does not have it. A truncated export followed by a good one loses nobody.
ALTER TABLE annuaire.directory_entries
    ADD COLUMN missing_since timestamptz,                -- first complete read without it
    ADD COLUMN missing_runs  integer NOT NULL DEFAULT 0; -- consecutive complete reads without it
-- The missing, for sync --status and the grace check of each run.
CREATE INDEX directory_entries_missing_idx ON annuaire.directory_entries (source, missing_since)
    WHERE missing_since IS NOT NULL;

-- What a complete read of the source found last time (min_entries, max_shrink).
ALTER TABLE annuaire.sync_sources ADD COLUMN last_read bigint;

ALTER TABLE annuaire.sync_runs
    ADD COLUMN missing   integer NOT NULL DEFAULT 0, -- entries pending removal after the run
    ADD COLUMN dropped   integer NOT NULL DEFAULT 0, -- entries stored with values left out
    ADD COLUMN entries_read bigint;                  -- entries a complete read found
