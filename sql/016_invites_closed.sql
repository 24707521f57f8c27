-- 016: what closes an invitation beyond its state.
-- callback_refused_at: the homeserver refused (403) the onbind callback that carried
-- it. Its ephemeral key was valid only until that callback was answered: a refused
-- one is never answered, so the key is closed then (it would otherwise stay valid).
ALTER TABLE annuaire.invites ADD COLUMN callback_refused_at timestamptz;

-- A revoked or expired invitation's mails still queued are withdrawn: found by this.
CREATE INDEX mail_outbox_invite_idx ON annuaire.mail_outbox (invite_id)
    WHERE sent_at IS NULL AND invite_id IS NOT NULL;
