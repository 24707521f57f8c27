-- 019: directory search. Every entry carries its folded words, computed in C by
-- `annuaire sync` while it maps the entry (core/fold.h: the same rule folds what a
-- caller searches for), and `annuaire migrate` fills them in for entries stored before
-- this migration (search_words IS NULL). What the search reads is kept from them by
-- the triggers below, only for the visible entries (not hidden, not disabled, not
-- removed): a hidden entry cannot be found because nothing of it is indexed.
--
-- search_words: the distinct words of display_name, given_name, surname and of the
--   local part of each address (digits dropped), apostrophes joined (D'Angelo ->
--   dangelo) and, for a word that had one, the part after it too (angelo); sorted
--   bytewise; at most 32 words of at most 64 bytes.
-- search_entity_words: the distinct words of entity, apostrophes as separators,
--   French stop words (de, la, du, des, l, d, ...) dropped; sorted, same bounds.
-- search_name: the whole display name folded (apostrophes joined), cut to at most 256
--   bytes at the end of a word: the exact-name tier.
ALTER TABLE annuaire.directory_entries
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN search_words text[],
    ADD COLUMN search_entity_words text[],
    ADD COLUMN search_name text;
CREATE UNIQUE INDEX directory_entries_id_idx ON annuaire.directory_entries (id);

-- What the search reads, kept by the triggers below from the columns above for the
-- visible entries only (not hidden, not disabled, not removed, words filled in):
--
-- search_postings: one row per word of search_words of each visible entry, carrying
--   what the service ranks and filters on (the entry's words as ' w1 w2 ... ', its
--   entity words the same way, its folded name, source, entity and mail domains), so
--   that a walk of one word's postings checks the other query words in the row itself,
--   with no probe per posting. Keyed (word, id): exact words and prefixes are ranges of
--   it, in the order the search returns them.
-- search_terms: the vocabulary (person words and entity words), for the words that
--   contain a query word (trigram index) and those one typo away (search_term_dels: the
--   word and each of its one-letter deletions; two words one insertion, deletion,
--   substitution or adjacent swap apart share a key). It only grows: a word nobody
--   holds any more has no postings, and costs one empty probe.
-- search_entities: each entity name with its words, for entity-word matches; members
--   are read from directory_entries through a partial index on (entity, id).
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA annuaire;

CREATE TABLE annuaire.search_postings (
    word    text COLLATE "C" NOT NULL,
    id      bigint NOT NULL,
    source  text   NOT NULL,
    entity  text,
    name    text,
    doc     text   NOT NULL, -- ' ' || the entry's words || ' '
    edoc    text   NOT NULL, -- the same of its entity words
    domains text[] NOT NULL, -- the domains of its addresses
    -- doc in the index: a walk checks the other query words on the index alone and
    -- reads the row of the few postings that pass (5x fewer pages measured)
    CONSTRAINT search_postings_pkey PRIMARY KEY (word, id) INCLUDE (doc)
);
-- The search picks the rarest query word to walk from the planner's most common words:
-- a thousand of them covers the common names of a large annuaire.
ALTER TABLE annuaire.search_postings ALTER COLUMN word SET STATISTICS 1000;

CREATE TABLE annuaire.search_terms (
    word   text    COLLATE "C" NOT NULL,
    person boolean NOT NULL DEFAULT false, -- a word of some entry's search_words
    entity boolean NOT NULL DEFAULT false, -- a word of some entity name
    CONSTRAINT search_terms_pkey PRIMARY KEY (word)
);
CREATE INDEX search_terms_trgm_idx ON annuaire.search_terms
    USING gin (word annuaire.gin_trgm_ops);

CREATE TABLE annuaire.search_term_dels (
    del  text COLLATE "C" NOT NULL,
    word text COLLATE "C" NOT NULL,
    CONSTRAINT search_term_dels_pkey PRIMARY KEY (del, word)
);

CREATE TABLE annuaire.search_entities (
    entity text   NOT NULL,
    words  text[] NOT NULL,
    doc    text   NOT NULL,
    CONSTRAINT search_entities_pkey PRIMARY KEY (entity)
);
CREATE INDEX search_entities_words_idx ON annuaire.search_entities USING gin (words);

-- The exact-name tier and the members of an entity, visible entries only.
CREATE INDEX directory_entries_search_name_idx ON annuaire.directory_entries (search_name, id)
    WHERE NOT hidden AND NOT disabled AND deleted_at IS NULL AND search_words IS NOT NULL;
CREATE INDEX directory_entries_search_entity_idx ON annuaire.directory_entries (entity, id)
    WHERE NOT hidden AND NOT disabled AND deleted_at IS NULL AND search_words IS NOT NULL;

-- ' w1 w2 ... ' of a word array: a word w is in it as ' w ', a prefix as ' w'.
CREATE FUNCTION annuaire.search_doc(p_words text[])
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ' ' || coalesce(array_to_string(p_words, ' '), '') || ' '
$$;

CREATE FUNCTION annuaire.search_domains(p_mails text[])
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT split_part(m, '@', 2) ORDER BY split_part(m, '@', 2)),
                    '{}')
    FROM unnest(p_mails) AS m
$$;

-- New words into the vocabulary (p_entity: of entity names), with their deletion keys.
-- In word order, so that two runs adding the same new words wait for each other rather
-- than deadlock.
CREATE FUNCTION annuaire.search_terms_add(p_words text[], p_entity boolean)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    WITH added AS (
        INSERT INTO annuaire.search_terms (word, person, entity)
            SELECT w, NOT p_entity, p_entity
            FROM unnest(p_words) AS w
            WHERE w IS NOT NULL
            ORDER BY w
            ON CONFLICT (word) DO UPDATE
            SET person = annuaire.search_terms.person OR EXCLUDED.person,
                entity = annuaire.search_terms.entity OR EXCLUDED.entity
            WHERE (EXCLUDED.person AND NOT annuaire.search_terms.person)
               OR (EXCLUDED.entity AND NOT annuaire.search_terms.entity)
            RETURNING word, xmax = 0 AS fresh)
    INSERT INTO annuaire.search_term_dels (del, word)
        SELECT DISTINCT k.del, a.word
        FROM added a
        CROSS JOIN LATERAL (SELECT a.word AS del
                            UNION ALL
                            SELECT left(a.word, i - 1) || substr(a.word, i + 1)
                            FROM generate_series(1, length(a.word)) AS i) k
        WHERE a.fresh AND length(a.word) >= 4
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
END
$$;

-- Entity names not seen before, with their words (p_edocs: search_doc of each).
CREATE FUNCTION annuaire.search_entities_add(p_entities text[], p_edocs text[])
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    words text[];
BEGIN
    WITH added AS (
        INSERT INTO annuaire.search_entities (entity, words, doc)
            SELECT DISTINCT ON (e.entity) e.entity,
                   array_remove(string_to_array(btrim(e.doc), ' '), ''), e.doc
            FROM unnest(p_entities, p_edocs) AS e(entity, doc)
            WHERE e.entity IS NOT NULL
            ORDER BY e.entity
            ON CONFLICT (entity) DO NOTHING
            RETURNING annuaire.search_entities.words)
    SELECT array_agg(DISTINCT w) INTO words
        FROM added a CROSS JOIN LATERAL unnest(a.words) AS w;
    IF words IS NOT NULL THEN
        PERFORM annuaire.search_terms_add(words, true);
    END IF;
END
$$;

-- The rows of a statement's changed entries that the search holds: postings for
-- each word, then the words and entities not seen before. p_ids: the entries, visible.
CREATE FUNCTION annuaire.search_index(p_ids bigint[])
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    words text[];
    ents text[];
    edocs text[];
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    -- One read of the entries: each one's doc and domains computed once, not per word;
    -- the vocabulary and the entities looked up once per distinct word or entity.
    WITH e AS MATERIALIZED (
             SELECT x.id, x.source, x.entity, x.search_name, x.search_words,
                    annuaire.search_doc(x.search_words) AS doc,
                    annuaire.search_doc(x.search_entity_words) AS edoc,
                    annuaire.search_domains(x.mails) AS domains
             FROM unnest(p_ids) AS i(id)
             JOIN annuaire.directory_entries x ON x.id = i.id),
         ins AS (
             INSERT INTO annuaire.search_postings (word, id, source, entity, name, doc, edoc,
                                                   domains)
                 SELECT w.word, e.id, e.source, e.entity, e.search_name, e.doc, e.edoc,
                        e.domains
                 FROM e CROSS JOIN LATERAL unnest(e.search_words) AS w(word)
                 WHERE w.word <> ''
                 ON CONFLICT (word, id) DO NOTHING)
    SELECT (SELECT array_agg(d.word)
            FROM (SELECT DISTINCT w.word
                  FROM e CROSS JOIN LATERAL unnest(e.search_words) AS w(word)
                  WHERE w.word <> '') d
            WHERE NOT EXISTS (SELECT 1 FROM annuaire.search_terms t
                              WHERE t.word = d.word AND t.person)),
           (SELECT array_agg(d.entity ORDER BY d.entity)
            FROM (SELECT DISTINCT ON (e.entity) e.entity, e.edoc FROM e
                  WHERE e.entity IS NOT NULL ORDER BY e.entity) d
            WHERE NOT EXISTS (SELECT 1 FROM annuaire.search_entities s
                              WHERE s.entity = d.entity)),
           (SELECT array_agg(d.edoc ORDER BY d.entity)
            FROM (SELECT DISTINCT ON (e.entity) e.entity, e.edoc FROM e
                  WHERE e.entity IS NOT NULL ORDER BY e.entity) d
            WHERE NOT EXISTS (SELECT 1 FROM annuaire.search_entities s
                              WHERE s.entity = d.entity))
        INTO words, ents, edocs;
    IF words IS NOT NULL THEN
        PERFORM annuaire.search_terms_add(words, false);
    END IF;
    IF ents IS NOT NULL THEN
        PERFORM annuaire.search_entities_add(ents, edocs);
    END IF;
END
$$;

-- The postings of entries (id, their words) that the search held: gone.
CREATE FUNCTION annuaire.search_unindex(p_ids bigint[], p_words text[])
    RETURNS void
    LANGUAGE sql
AS $$
    DELETE FROM annuaire.search_postings p
        USING unnest(p_ids, p_words) AS d(id, word)
        WHERE p.word = d.word AND p.id = d.id
$$;

-- The triggers: one statement of any kind on directory_entries, its transition tables
-- compared. Visible: not hidden, not disabled, not removed, words filled in. An entry
-- is touched only when it stops or starts being visible, or when what its postings
-- carry changed (words, entity words, name, entity, addresses); a sync that rewrites
-- an entry for its title or phone leaves the search alone.
CREATE FUNCTION annuaire.annuaire_search_on_insert()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM annuaire.search_index(
        (SELECT array_agg(n.id) FROM search_new n
         WHERE NOT n.hidden AND NOT n.disabled AND n.deleted_at IS NULL
         AND n.search_words IS NOT NULL));
    RETURN NULL;
END
$$;

CREATE FUNCTION annuaire.annuaire_search_on_delete()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM annuaire.search_unindex(array_agg(o.id), array_agg(w.word))
        FROM search_old o
        CROSS JOIN LATERAL unnest(o.search_words) AS w(word)
        WHERE NOT o.hidden AND NOT o.disabled AND o.deleted_at IS NULL
        AND o.search_words IS NOT NULL
        HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION annuaire.annuaire_search_on_update()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    gone bigint[];
    gone_words text[];
    fresh bigint[];
BEGIN
    WITH o AS (SELECT x.id, x.search_words, x.search_entity_words, x.search_name, x.entity,
                      x.mails,
                      NOT x.hidden AND NOT x.disabled AND x.deleted_at IS NULL
                      AND x.search_words IS NOT NULL AS v
               FROM search_old x),
         n AS (SELECT x.id, x.search_words, x.search_entity_words, x.search_name, x.entity,
                      x.mails,
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
    SELECT g.ids, g.words, f.ids INTO gone, gone_words, fresh
        FROM (SELECT array_agg(c.id) AS ids, array_agg(w.word) AS words
              FROM c CROSS JOIN LATERAL unnest(c.words) AS w(word)
              WHERE c.was) g,
             (SELECT array_agg(c.id) AS ids FROM c WHERE c.now_on) f;
    IF gone IS NOT NULL THEN
        PERFORM annuaire.search_unindex(gone, gone_words);
    END IF;
    PERFORM annuaire.search_index(fresh);
    RETURN NULL;
END
$$;

CREATE TRIGGER directory_entries_search_insert
    AFTER INSERT ON annuaire.directory_entries
    REFERENCING NEW TABLE AS search_new
    FOR EACH STATEMENT
    EXECUTE FUNCTION annuaire.annuaire_search_on_insert();
CREATE TRIGGER directory_entries_search_update
    AFTER UPDATE ON annuaire.directory_entries
    REFERENCING OLD TABLE AS search_old NEW TABLE AS search_new
    FOR EACH STATEMENT
    EXECUTE FUNCTION annuaire.annuaire_search_on_update();
CREATE TRIGGER directory_entries_search_delete
    AFTER DELETE ON annuaire.directory_entries
    REFERENCING OLD TABLE AS search_old
    FOR EACH STATEMENT
    EXECUTE FUNCTION annuaire.annuaire_search_on_delete();
