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
-- search_name: the whole display name folded (apostrophes joined): the exact-name tier.
ALTER TABLE annuaire.directory_entries
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN search_words text[],
    ADD COLUMN search_entity_words text[],
    ADD COLUMN search_name text;
CREATE UNIQUE INDEX directory_entries_id_idx ON annuaire.directory_entries (id);
