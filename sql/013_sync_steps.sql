-- 013: the steps of a sync run that take several statements, as functions that
-- `annuaire sync` calls inside its transaction (ldap-sync/store.c): the start (the
-- source's row, locked, the purge, the staging table), the diff of what was read
-- against what the source had, the apply, and the conflicts the run is concerned
-- with. The data is the same; only where the statements live changes.
--
-- The temporary tables they create (sync_staging, sync_diff, sync_touched,
-- sync_candidates) are dropped at COMMIT or ROLLBACK. None of these functions has a
-- SET clause: the SET LOCAL of annuaire_sync_diff lasts until the end of the
-- transaction, for the apply as well.

-- Opens a run of a source: its row created or updated and locked (one run of a source
-- at a time, whichever machine starts it), soft-deleted entries past the purge delay
-- removed, and, unless the run can copy straight into directory_entries (p_direct_ok
-- and the source has no entries yet), the staging table the read is copied into.
-- state: e = an entry as read, p = present (unchanged), d = deleted.
CREATE FUNCTION annuaire.annuaire_sync_begin(p_source text, p_ministry text, p_priority integer,
                                             p_full_every_hours integer, p_purge_days integer,
                                             p_direct_ok boolean)
    RETURNS TABLE (stored_cookie text, full_due boolean, live_entries bigint,
                   last_complete_read bigint, direct boolean)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO annuaire.sync_sources (name, ministry, priority)
        VALUES (p_source, p_ministry, p_priority)
        ON CONFLICT (name) DO UPDATE
        SET ministry = EXCLUDED.ministry, priority = EXCLUDED.priority;
    SELECT s.cookie,
           s.last_full_at IS NULL OR s.last_full_at < now() - make_interval(hours => p_full_every_hours),
           s.entries,
           coalesce(s.last_read, -1)
        INTO stored_cookie, full_due, live_entries, last_complete_read
        FROM annuaire.sync_sources s
        WHERE s.name = p_source
        FOR UPDATE;
    DELETE FROM annuaire.directory_entries e
        WHERE e.source = p_source
        AND e.deleted_at < now() - make_interval(days => p_purge_days);
    direct := p_direct_ok
        AND NOT EXISTS (SELECT 1 FROM annuaire.directory_entries e WHERE e.source = p_source);
    IF NOT direct THEN
        CREATE TEMPORARY TABLE sync_staging (
            state       "char"  NOT NULL,
            key         text    NOT NULL,
            dn          text    NOT NULL,
            mails       text[]  NOT NULL,
            display_name text,
            given_name  text,
            surname     text,
            entity      text,
            title       text,
            mobile      text,
            mobile_e164 text,
            hidden      boolean NOT NULL,
            disabled    boolean NOT NULL,
            content_hash text   NOT NULL
        ) ON COMMIT DROP;
    END IF;
    RETURN NEXT;
END
$$;

-- What applying the staged read would do (p_bulk: a big read, planned as such).
--
-- A key twice in one read: after a restart slapd sends a changed entry and lists it
-- present as well; the entry wins (then a deletion, then presence), and that is no
-- fault. An entry sent twice is (the source is inconsistent): one is kept, the other
-- counted in rejected.
--
-- Then one pass over the read and the source's current entries says what each key is
-- (sync_diff.kind): a (added, or back from a soft delete), c (changed), u (unchanged),
-- v (unchanged, back from missing), r (removed), m (absent: missing from now on), k
-- (still missing, within the grace), x (nothing to do). An absence is a removal only
-- once it lasted p_grace_runs more complete reads and p_grace_seconds; a deletion the
-- server lists is one at once. With p_delete_mode (the server listed its deletions)
-- what the read did not mention is unchanged; otherwise what is not in the read is
-- absent, and every entry of the source is looked at.
--
-- Counts: live_before is the source's live entries (with p_delete_mode, p_entries, the
-- count kept with the source, rather than a pass over all of them); marks the absent
-- (m and k), backs the missing back (v), missing_unmentioned the missing a run with
-- p_delete_mode did not mention (they stay so), marked the newly missing (m).
CREATE FUNCTION annuaire.annuaire_sync_diff(p_source text, p_delete_mode boolean,
                                            p_grace_runs integer, p_grace_seconds integer,
                                            p_entries bigint, p_bulk boolean)
    RETURNS TABLE (rejected bigint, added bigint, changed bigint, removed bigint,
                   live_before bigint, marks bigint, backs bigint,
                   missing_unmentioned bigint, marked bigint)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    twice bigint;
BEGIN
    SELECT count(*), coalesce(sum(d.e - 1) FILTER (WHERE d.e > 1), 0)
        INTO twice, rejected
        FROM (SELECT count(*) FILTER (WHERE s.state = 'e') AS e
              FROM sync_staging s
              GROUP BY s.key
              HAVING count(*) > 1) d;
    IF twice > 0 THEN
        DELETE FROM sync_staging s USING sync_staging t
            WHERE s.key = t.key
            AND s.ctid <> t.ctid
            AND (position(s.state IN 'pde'), s.ctid) < (position(t.state IN 'pde'), t.ctid);
    END IF;
    -- A big read joins everything with everything: hash joins, and no time spent on
    -- statistics. A small one (an incremental run) gets statistics, so that the
    -- planner picks index lookups in a big table.
    IF p_bulk THEN
        SET LOCAL enable_nestloop = off;
    ELSE
        ANALYZE sync_staging;
    END IF;
    CREATE TEMPORARY TABLE sync_diff ON COMMIT DROP AS
        SELECT s.key,
               CASE
               WHEN s.state = 'd' THEN
                   CASE WHEN e.deleted_at IS NULL AND e.key IS NOT NULL THEN 'r' ELSE 'x' END
               WHEN e.key IS NULL OR e.deleted_at IS NOT NULL THEN
                   CASE WHEN s.state = 'p' THEN 'x' ELSE 'a' END
               WHEN s.state = 'p' OR e.content_hash = s.content_hash THEN
                   CASE WHEN e.missing_since IS NULL THEN 'u' ELSE 'v' END
               ELSE 'c'
               END AS kind
        FROM sync_staging s
        LEFT JOIN (SELECT d.key, d.content_hash, d.deleted_at, d.missing_since
                   FROM annuaire.directory_entries d
                   WHERE d.source = p_source) e ON e.key = s.key
        UNION ALL
        SELECT e.key,
               CASE
               WHEN p_grace_runs = 0 AND p_grace_seconds = 0 THEN 'r'
               WHEN e.missing_since IS NULL THEN 'm'
               WHEN e.missing_runs >= p_grace_runs
                   AND e.missing_since <= now() - make_interval(secs => p_grace_seconds) THEN 'r'
               ELSE 'k'
               END
        FROM annuaire.directory_entries e
        WHERE NOT p_delete_mode
        AND e.source = p_source
        AND e.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM sync_staging s WHERE s.key = e.key);
    -- Temporary tables have no statistics until analysed: without them the planner
    -- takes them for tiny and nests loops over a million rows.
    ANALYZE sync_diff;
    SELECT count(*) FILTER (WHERE d.kind = 'a'),
           count(*) FILTER (WHERE d.kind = 'c'),
           count(*) FILTER (WHERE d.kind = 'r'),
           CASE WHEN p_delete_mode THEN p_entries
                ELSE (SELECT count(*) FROM annuaire.directory_entries e
                      WHERE e.source = p_source AND e.deleted_at IS NULL) END,
           count(*) FILTER (WHERE d.kind IN ('m', 'k')),
           count(*) FILTER (WHERE d.kind = 'v'),
           CASE WHEN p_delete_mode
                THEN (SELECT count(*) FROM annuaire.directory_entries e
                      WHERE e.source = p_source
                      AND e.missing_since IS NOT NULL
                      AND e.deleted_at IS NULL
                      AND NOT EXISTS (SELECT 1 FROM sync_diff x WHERE x.key = e.key))
                ELSE 0 END,
           count(*) FILTER (WHERE d.kind = 'm')
        INTO added, changed, removed, live_before, marks, backs, missing_unmentioned, marked
        FROM sync_diff d;
    RETURN NEXT;
END
$$;

-- Applies a run (after annuaire_sync_diff; p_direct: the read was copied straight into
-- directory_entries, there is nothing else to write): keys added, changed, restored,
-- removed (when p_removals: the diff found some), newly or still missing (p_absences),
-- back from missing (p_backs). p_bulk: many changes, conflicts
-- are looked for among all the source's addresses in one pass (annuaire_sync_conflicts)
-- rather than address by address through sync_touched, the old and new addresses of
-- the keys that change. p_analyze: the table may have just grown a lot, fresh
-- statistics of the columns the next runs join on, so that they do not wait for
-- autovacuum. Then the source's row: the cookie goes with the data it describes, in
-- the same transaction.
CREATE FUNCTION annuaire.annuaire_sync_apply(p_source text, p_direct boolean, p_bulk boolean,
                                             p_removals boolean, p_absences boolean,
                                             p_backs boolean, p_analyze boolean,
                                             p_cookie text, p_delete_mode boolean,
                                             p_live bigint, p_read bigint)
    RETURNS void
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
    IF NOT p_direct THEN
        IF NOT p_bulk THEN
            CREATE TEMPORARY TABLE sync_touched ON COMMIT DROP AS
                SELECT DISTINCT unnest(e.mails) AS address
                FROM annuaire.directory_entries e JOIN sync_diff d USING (key)
                WHERE e.source = p_source AND d.kind IN ('c', 'r')
                UNION
                SELECT DISTINCT unnest(s.mails)
                FROM sync_staging s JOIN sync_diff d USING (key)
                WHERE d.kind IN ('a', 'c');
        END IF;
        INSERT INTO annuaire.directory_entries (source, key, dn, mails, display_name,
                                                given_name, surname, entity, title, mobile,
                                                mobile_e164, hidden, disabled, content_hash)
            SELECT p_source, s.key, s.dn, s.mails, s.display_name, s.given_name, s.surname,
                   s.entity, s.title, s.mobile, s.mobile_e164, s.hidden, s.disabled,
                   s.content_hash
            FROM sync_staging s JOIN sync_diff d USING (key)
            WHERE d.kind IN ('a', 'c')
            ON CONFLICT (source, key) DO UPDATE
            SET dn = EXCLUDED.dn,
                mails = EXCLUDED.mails,
                display_name = EXCLUDED.display_name,
                given_name = EXCLUDED.given_name,
                surname = EXCLUDED.surname,
                entity = EXCLUDED.entity,
                title = EXCLUDED.title,
                mobile = EXCLUDED.mobile,
                mobile_e164 = EXCLUDED.mobile_e164,
                hidden = EXCLUDED.hidden,
                disabled = EXCLUDED.disabled,
                content_hash = EXCLUDED.content_hash,
                last_seen_at = now(),
                last_changed_at = now(),
                deleted_at = NULL,
                missing_since = NULL,
                missing_runs = 0;
        IF p_removals THEN
            UPDATE annuaire.directory_entries e
                SET deleted_at = now(), missing_since = NULL, missing_runs = 0
                FROM sync_diff d
                WHERE e.source = p_source AND e.key = d.key AND d.kind = 'r';
        END IF;
        -- Absent: missing from now on, or one more read without it.
        IF p_absences THEN
            UPDATE annuaire.directory_entries e
                SET missing_since = coalesce(e.missing_since, now()),
                    missing_runs = e.missing_runs + 1
                FROM sync_diff d
                WHERE e.source = p_source AND e.key = d.key AND d.kind IN ('m', 'k');
        END IF;
        IF p_backs THEN
            UPDATE annuaire.directory_entries e
                SET missing_since = NULL, missing_runs = 0, last_seen_at = now()
                FROM sync_diff d
                WHERE e.source = p_source AND e.key = d.key AND d.kind = 'v';
        END IF;
        IF NOT p_bulk THEN
            ANALYZE sync_touched;
        END IF;
    END IF;
    IF p_analyze THEN
        ANALYZE annuaire.directory_entries (source, key, deleted_at);
    END IF;
    UPDATE annuaire.sync_sources s
        SET cookie = p_cookie,
            last_full_at = CASE WHEN p_delete_mode THEN s.last_full_at ELSE now() END,
            entries = p_live,
            last_read = CASE WHEN p_read >= 0 THEN p_read ELSE s.last_read END
        WHERE s.name = p_source;
END
$$;

-- Addresses claimed by more than one live entry, with their claimants (source:DN,
-- ordered): the view directory_addresses gives each to the source with the lowest
-- priority number; the run says so. After a small run (not p_bulk): the addresses it
-- touched, found through the GIN index on mails. After a big one: every address of
-- the source. One pass over the live claims finds the 64-bit hashes claimed twice; a
-- second one, only when there are some, lists the addresses behind them that involve
-- this source.
CREATE FUNCTION annuaire.annuaire_sync_conflicts(p_source text, p_bulk boolean)
    RETURNS TABLE (address text, claimed_by text)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    -- The listing, with the condition that picks the addresses to look at and what
    -- the claims must also have: fixed SQL of this function only, values in USING.
    listing constant text := $q$
        SELECT m.address,
               array_to_string(array_agg(e.source || ':' || e.dn ORDER BY e.source, e.dn), ' | ')
        FROM annuaire.directory_entries e
        CROSS JOIN LATERAL unnest(e.mails) AS m(address)
        WHERE e.deleted_at IS NULL
        AND %s
        GROUP BY m.address
        HAVING count(*) > 1 %s
        ORDER BY m.address$q$;
BEGIN
    IF NOT p_bulk THEN
        RETURN QUERY EXECUTE format(listing,
            'e.mails && ARRAY(SELECT t.address FROM sync_touched t)'
            ' AND m.address IN (SELECT t.address FROM sync_touched t)', '');
        RETURN;
    END IF;
    CREATE TEMPORARY TABLE sync_candidates ON COMMIT DROP AS
        SELECT c.h
        FROM (SELECT hashtextextended(m.address, 0) AS h
              FROM annuaire.directory_entries e
              CROSS JOIN LATERAL unnest(e.mails) AS m(address)
              WHERE e.deleted_at IS NULL) c
        GROUP BY c.h
        HAVING count(*) > 1;
    IF NOT EXISTS (SELECT 1 FROM sync_candidates) THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(listing,
        'hashtextextended(m.address, 0) IN (SELECT c.h FROM sync_candidates c)',
        'AND bool_or(e.source = $1)')
        USING p_source;
END
$$;
