-- 008: the next_link a validation session was validated with. A later submitToken
-- for the same session while another next_link is set (a new requestToken asked for
-- it) is refused, so that a validated session cannot be made to send its user
-- somewhere else.
ALTER TABLE annuaire.validation_sessions ADD COLUMN next_link_used text;
UPDATE annuaire.validation_sessions SET next_link_used = next_link WHERE validated_at IS NOT NULL;
