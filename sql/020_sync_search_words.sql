-- 020: the sync writes the search words of each entry (sql/019_search.sql), which it
-- computes while it maps the entry (ldap-sync/words.c): the staging table carries
-- them (three columns more, after content_hash, NULL on the rows of a key only), and
-- the apply's upsert writes them with the rest of an added or changed entry, changed
-- words or not. The direct COPY of a first run names the columns itself. The two
-- functions are those of sql/013_sync_steps.sql with only that added; content_hash
-- is computed as before, from the mapped fields (the words follow from them).

-- The start of a run (013), its staging table with the three search columns.
CREATE OR REPLACE FUNCTION annuaire.annuaire_sync_begin(p_source text, p_ministry text, p_priority integer,
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
            content_hash text   NOT NULL,
            search_words text[],
            search_entity_words text[],
            search_name text
        ) ON COMMIT DROP;
    END IF;
    RETURN NEXT;
END
$$;

-- The apply (013), the upsert writing the search columns.
CREATE OR REPLACE FUNCTION annuaire.annuaire_sync_apply(p_source text, p_direct boolean, p_bulk boolean,
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
                                                mobile_e164, hidden, disabled, content_hash,
                                                search_words, search_entity_words, search_name)
            SELECT p_source, s.key, s.dn, s.mails, s.display_name, s.given_name, s.surname,
                   s.entity, s.title, s.mobile, s.mobile_e164, s.hidden, s.disabled,
                   s.content_hash, s.search_words, s.search_entity_words, s.search_name
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
                search_words = EXCLUDED.search_words,
                search_entity_words = EXCLUDED.search_entity_words,
                search_name = EXCLUDED.search_name,
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
