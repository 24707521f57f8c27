-- 022: a source taken out of the configuration. `annuaire sync --retire NAME`
-- soft-deletes its live entries (the leavers trigger of 017 records the addresses that
-- no other live, enabled entry holds, as for a removal by a run) and marks its row
-- retired; what the source's next run would start from (cookie, mark, counts) is
-- dropped, so that a source configured again later starts with a full read and brings
-- its entries back as reappearing ones. Its soft-deleted entries are purged after
-- sync.purge_after_days like any others (`annuaire sync` purges those of retired
-- sources at each run, since a retired source has no run of its own).
ALTER TABLE annuaire.sync_sources ADD COLUMN retired_at timestamptz;

-- Retires a source (its row must exist): returns the entries soft-deleted.
CREATE FUNCTION annuaire.annuaire_sync_retire(p_source text)
    RETURNS bigint
    LANGUAGE plpgsql
AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE annuaire.directory_entries e
        SET deleted_at = now(), missing_since = NULL, missing_runs = 0
        WHERE e.source = p_source
        AND e.deleted_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE annuaire.sync_sources s
        SET retired_at = now(), cookie = NULL, last_full_at = NULL, entries = 0,
            last_read = NULL
        WHERE s.name = p_source;
    RETURN n;
END
$$;

-- The runs of a source not made because another run held its lock (exit 5), for
-- /metrics (annuaire_sync_busy_total): a run that hangs while holding the lock shows
-- as a count that grows. A table of its own, since the holder's run keeps the source's
-- sync_sources row locked.
CREATE TABLE annuaire.sync_busy (
    source  text        NOT NULL,
    runs    bigint      NOT NULL DEFAULT 0,
    last_at timestamptz NOT NULL,
    CONSTRAINT sync_busy_pkey PRIMARY KEY (source)
);
