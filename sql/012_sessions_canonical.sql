-- 012: validation sessions opened before addresses had one canonical form are ended.
-- Such a session could stand for a folded address (bob@gmail.com) while its token was
-- mailed to the spelling typed (bob@gma<U+0130>l.com, another domain): validating it
-- would bind an address its holder never proved. Sessions live a day at most; whoever
-- was in the middle of one asks for a new token.
DELETE FROM annuaire.validation_sessions;
