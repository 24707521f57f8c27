-- 010: each outbox mail is claimed on its own, for longer than a send can take, so
-- that two senders (two instances on one database) never hold the same mail.
--
-- claimed_until: while set and in the future, one sender holds the mail (its lease);
--   cleared when the sender records the outcome. attempts (one more per claim) tells
--   the claims apart: a sender records its outcome only while its claim is the last.
-- failures: failed deliveries since the last reset; the retry delay doubles with each.
-- waiting_for_relay: the last failure was the relay not answering (no connection,
--   timeout); such mails are retried at once when a delivery succeeds again.
-- message_id: the Message-ID header of the message, fixed when it was queued: a
--   resend carries the same one, so the receiving side can recognise it.
ALTER TABLE annuaire.mail_outbox
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN waiting_for_relay boolean NOT NULL DEFAULT false,
    ADD COLUMN message_id text;
UPDATE annuaire.mail_outbox SET failures = attempts WHERE sent_at IS NULL;
