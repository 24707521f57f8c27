-- 007: the owner of each address is read from the entries instead of being stored.
--
-- Keeping a table with one row per address cost about as much as loading the entries
-- themselves (a sorted insert into a second B-tree on every bulk run). The GIN index on
-- directory_entries.mails already answers "which entries claim this address", so the
-- consolidated annuaire is now a view: one row per address, owned by the live entry of
-- the source with the lowest priority number (then source name, then key), the same
-- rule `annuaire sync` applies when it reports conflicts.
DROP TABLE annuaire.directory_addresses;

CREATE VIEW annuaire.directory_addresses AS
    SELECT DISTINCT ON (m.address) m.address, e.source, e.key
    FROM annuaire.directory_entries e
    CROSS JOIN LATERAL unnest(e.mails) AS m(address)
    JOIN annuaire.sync_sources s ON s.name = e.source
    WHERE e.deleted_at IS NULL
    ORDER BY m.address, s.priority, e.source, e.key;

-- The owning entry of one address, through the GIN index (the view above reads
-- everything: it is for listings, this is for lookups).
CREATE FUNCTION annuaire.directory_owner(addr text)
    RETURNS TABLE (source text, key text)
    LANGUAGE sql STABLE
AS $$
    SELECT e.source, e.key
    FROM annuaire.directory_entries e
    JOIN annuaire.sync_sources s ON s.name = e.source
    WHERE e.mails @> ARRAY[addr] AND e.deleted_at IS NULL
    ORDER BY s.priority, e.source, e.key
    LIMIT 1
$$;

-- Addresses are nearly all distinct: GIN's pending list buys nothing on a bulk load
-- (measured: the same COPY time) and every query scans it until it is merged, which
-- made the first lookups after a load take hundreds of milliseconds.
ALTER INDEX annuaire.directory_entries_mails_idx SET (fastupdate = off);
