-- 018: an invitation that stops being pending because it was revoked or expired has its
-- mails still queued, and not being handed to a relay, withdrawn: in the statement that
-- changes its state, whichever path changes it (the admin API, the command line, the
-- expiry sweep).
CREATE FUNCTION annuaire.invites_withdraw_mails() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM annuaire.mail_outbox
        WHERE invite_id = NEW.id AND sent_at IS NULL
        AND (claimed_until IS NULL OR claimed_until < now());
    RETURN NULL;
END
$$;

CREATE TRIGGER invites_withdraw_mails AFTER UPDATE OF state ON annuaire.invites
    FOR EACH ROW WHEN (OLD.state = 'pending' AND NEW.state IN ('revoked', 'expired'))
    EXECUTE FUNCTION annuaire.invites_withdraw_mails();
