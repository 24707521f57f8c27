-- 014: invitations as one lifecycle (room invitations from store-invite and VIP
-- invitations from admins), the audit log, admin tokens and the invitation quotas.
--
-- An invitation is pending until it is used (the address was bound: used_by, used_at),
-- expires (expires_at, an absolute time set at creation; NULL: never) or is revoked.
-- It opens the enrollment gate and internal-info while it is pending and unexpired,
-- and is carried to one binding only. Rows are no longer deleted once delivered: an
-- onbind callback done sets delivered_at.

ALTER TABLE annuaire.invites
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN kind text NOT NULL DEFAULT 'room',
    ADD COLUMN state text NOT NULL DEFAULT 'pending',
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN sender_server text,      -- the inviting homeserver (room), NULL for VIP
    ADD COLUMN inviter text,            -- VIP: the inviter's name as the mail shows it
    ADD COLUMN note text,               -- VIP: the admin's note
    ADD COLUMN created_by text,         -- VIP: the admin token's name, or cli:<user>
    ADD COLUMN lang text,               -- VIP: the mail's language (fr, en)
    ADD COLUMN used_at timestamptz,
    ADD COLUMN used_by text,            -- the Matrix ID the address was bound to
    ADD COLUMN delivered_at timestamptz, -- the onbind callback carrying it was answered
    ADD COLUMN revoked_at timestamptz,
    ADD COLUMN revoked_by text,
    ADD COLUMN mailed_count integer NOT NULL DEFAULT 0,
    ADD COLUMN last_mailed_at timestamptz;

-- VIP invitations have no room, sender or ephemeral key.
ALTER TABLE annuaire.invites ALTER COLUMN room_id DROP NOT NULL;
ALTER TABLE annuaire.invites ALTER COLUMN sender DROP NOT NULL;
ALTER TABLE annuaire.invites ALTER COLUMN ephemeral_public_key DROP NOT NULL;
ALTER TABLE annuaire.invites DROP CONSTRAINT invites_verified_by_check;
ALTER TABLE annuaire.invites ADD CONSTRAINT invites_verified_by_check
    CHECK (verified_by IN ('token', 'legacy', 'admin'));
ALTER TABLE annuaire.invites ADD CONSTRAINT invites_kind_check
    CHECK (kind IN ('room', 'vip'));
ALTER TABLE annuaire.invites ADD CONSTRAINT invites_state_check
    CHECK (state IN ('pending', 'used', 'expired', 'revoked'));
ALTER TABLE annuaire.invites ADD CONSTRAINT invites_room_fields_check
    CHECK (kind <> 'room' OR (room_id IS NOT NULL AND sender IS NOT NULL
                              AND ephemeral_public_key IS NOT NULL));
ALTER TABLE annuaire.invites ADD CONSTRAINT invites_id_key UNIQUE (id);

-- Invitations stored before this migration: those of an unchecked sender opened
-- nothing and never will (revoked by the system); the others keep the sender's server
-- and expire after the default validity of a VIP invitation from their creation
-- (invites.validity was read at run time until now; 30 days is the longest default).
UPDATE annuaire.invites SET state = 'revoked', revoked_at = now(), revoked_by = 'system'
    WHERE verified_by IS NULL;
UPDATE annuaire.invites SET sender_server = substr(sender, strpos(sender, ':') + 1)
    WHERE sender IS NOT NULL;
UPDATE annuaire.invites SET expires_at = created_at + interval '30 days'
    WHERE state = 'pending';

-- What the gate, internal-info and bind ask: the pending ones of an address.
DROP INDEX annuaire.invites_address_idx;
CREATE INDEX invites_address_idx ON annuaire.invites (medium, address)
    WHERE state = 'pending';
-- The admin list: newest first, by state, by address, with a cursor on id.
CREATE INDEX invites_list_idx ON annuaire.invites (id DESC);
CREATE INDEX invites_state_list_idx ON annuaire.invites (state, id DESC);
CREATE INDEX invites_address_list_idx ON annuaire.invites (address, id DESC);
-- The expiry sweep.
CREATE INDEX invites_expiry_idx ON annuaire.invites (expires_at) WHERE state = 'pending';

-- Which invitation a mail is for: its sending is written to the audit log.
ALTER TABLE annuaire.mail_outbox ADD COLUMN invite_id bigint;

-- Daily invitation counts per subject ('sender:@a:b', 'server:b'), UTC days.
CREATE TABLE annuaire.invite_quotas (
    subject text    NOT NULL,
    day     date    NOT NULL,
    used    integer NOT NULL,
    CONSTRAINT invite_quotas_pkey PRIMARY KEY (subject, day)
);

-- Admin API tokens: only the SHA-256 of the token is kept (hex, as accounts do).
CREATE TABLE annuaire.admin_tokens (
    name         text        NOT NULL,
    token_hash   text        NOT NULL,
    scopes       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    CONSTRAINT admin_tokens_pkey PRIMARY KEY (name),
    CONSTRAINT admin_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT admin_tokens_name_check CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT admin_tokens_scopes_check
        CHECK (scopes <@ ARRAY['invitations', 'directory', 'sync', 'audit', 'all']::text[]
               AND cardinality(scopes) > 0)
);

-- Who did what: every admin action, invitation event, sync run and pepper rotation,
-- written in the transaction of the action. Never a secret or a token.
CREATE TABLE annuaire.audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_kind  text        NOT NULL, -- admin, homeserver, user, system, cli
    actor       text        NOT NULL, -- token name, server name, Matrix ID, "system", cli:<user>
    action      text        NOT NULL, -- invitation.created, sync.run, ...
    object_kind text,                 -- invitation, admin_token, sync_source, pepper, ...
    object_id   text,
    outcome     text        NOT NULL, -- ok, refused, failed
    details     jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_actor_kind_check
        CHECK (actor_kind IN ('admin', 'homeserver', 'user', 'system', 'cli')),
    CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('ok', 'refused', 'failed'))
);
CREATE INDEX audit_log_at_idx ON annuaire.audit_log (at);
CREATE INDEX audit_log_action_idx ON annuaire.audit_log (action, id DESC);
