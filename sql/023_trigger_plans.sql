-- 023: the statement triggers of directory_entries that join their transition tables
-- (leavers, 017; search on update, 019) plan each of those statements at each call.
--
-- A static statement of PL/pgSQL is planned once per session, for the transition tables
-- of the first call: after a one-row UPDATE, the next statement of 100,000 rows ran the
-- nested loop planned for one (10^10 comparisons, hours). And an EXISTS is planned to
-- stop at its first row: over two transition tables without statistics, the planner
-- chose a nested loop that a statement without any leaver runs to the end. Here every
-- statement over the transition tables is a constant text run by EXECUTE (nothing in it
-- comes from data), planned with the tables' actual sizes: (source, key) and id are
-- joined by hashing once the changes are more than a few rows, and the leavers' test is
-- a count, which has no first row to hurry to.
--
-- The leavers function keeps sequential scans off: the only table it reads is
-- directory_entries, once per leaving address, and that must be a probe of the GIN index
-- on mails. Planned at each call, without statistics on the table (before its first
-- ANALYZE) the planner still expects almost no live entry to hold an address and scans
-- the entries once per leaver (measured: 100 leavers among 20,000 entries, 4.3 s with
-- sequential scans allowed, 0.14 s without). The setting does not touch the transition
-- tables, which are scanned, hashed and joined as the planner sees fit. The functions'
-- results are those of 017 and 019.
CREATE OR REPLACE FUNCTION annuaire.annuaire_directory_leavers_record()
    RETURNS trigger
    LANGUAGE plpgsql
    SET enable_seqscan = off
AS $$
DECLARE
    leaving bigint;
BEGIN
    EXECUTE 'SELECT count(*)
             FROM leavers_old o
             JOIN leavers_new n ON n.source = o.source AND n.key = o.key
             WHERE o.deleted_at IS NULL
             AND NOT o.disabled
             AND (n.deleted_at IS NOT NULL OR n.disabled)'
        INTO leaving;
    IF leaving > 0 THEN
        LOCK TABLE annuaire.directory_leavers IN EXCLUSIVE MODE;
        EXECUTE 'INSERT INTO annuaire.directory_leavers (source, key, address, reason)
                 SELECT o.source, o.key, m.address,
                        CASE WHEN n.deleted_at IS NOT NULL THEN ''removed'' ELSE ''disabled'' END
                 FROM leavers_old o
                 JOIN leavers_new n ON n.source = o.source AND n.key = o.key
                 CROSS JOIN LATERAL unnest(o.mails) AS m(address)
                 WHERE o.deleted_at IS NULL
                 AND NOT o.disabled
                 AND (n.deleted_at IS NOT NULL OR n.disabled)
                 AND NOT EXISTS (SELECT 1
                                 FROM annuaire.directory_entries e
                                 WHERE e.mails @> ARRAY[m.address]
                                 AND e.deleted_at IS NULL
                                 AND NOT e.disabled)
                 ORDER BY o.source, o.key, m.address';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION annuaire.annuaire_search_on_update()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    gone bigint[];
    gone_words text[];
    fresh bigint[];
BEGIN
    EXECUTE 'WITH o AS (SELECT x.id, x.search_words, x.search_entity_words, x.search_name,
                               x.entity, x.mails,
                               NOT x.hidden AND NOT x.disabled AND x.deleted_at IS NULL
                               AND x.search_words IS NOT NULL AS v
                        FROM search_old x),
                  n AS (SELECT x.id, x.search_words, x.search_entity_words, x.search_name,
                               x.entity, x.mails,
                               NOT x.hidden AND NOT x.disabled AND x.deleted_at IS NULL
                               AND x.search_words IS NOT NULL AS v
                        FROM search_new x),
                  c AS MATERIALIZED (
                      SELECT o.id, o.v AS was, n.v AS now_on, o.search_words AS words
                      FROM o JOIN n ON n.id = o.id
                      WHERE (o.v OR n.v)
                      AND (o.v IS DISTINCT FROM n.v
                           OR o.search_words IS DISTINCT FROM n.search_words
                           OR o.search_entity_words IS DISTINCT FROM n.search_entity_words
                           OR o.search_name IS DISTINCT FROM n.search_name
                           OR o.entity IS DISTINCT FROM n.entity
                           OR o.mails IS DISTINCT FROM n.mails))
             SELECT g.ids, g.words, f.ids
             FROM (SELECT array_agg(c.id) AS ids, array_agg(w.word) AS words
                   FROM c CROSS JOIN LATERAL unnest(c.words) AS w(word)
                   WHERE c.was) g,
                  (SELECT array_agg(c.id) AS ids FROM c WHERE c.now_on) f'
        INTO gone, gone_words, fresh;
    IF gone IS NOT NULL THEN
        PERFORM annuaire.search_unindex(gone, gone_words);
    END IF;
    PERFORM annuaire.search_index(fresh);
    RETURN NULL;
END
$$;
