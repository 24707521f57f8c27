-- 005: third-party invites (store-invite) and the homeserver callbacks (onbind)
-- owed once an invited address is bound.

CREATE TABLE annuaire.invites (
    token                text        NOT NULL, -- handed to the inviting homeserver
    medium               text        NOT NULL,
    address              text        NOT NULL, -- normalised
    room_id              text        NOT NULL,
    sender               text        NOT NULL,
    ephemeral_public_key text        NOT NULL, -- valid while the invite is pending
    details              jsonb       NOT NULL DEFAULT '{}', -- room name, sender display name, ...
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invites_pkey PRIMARY KEY (token),
    CONSTRAINT invites_ephemeral_public_key_key UNIQUE (ephemeral_public_key)
);
CREATE INDEX invites_address_idx ON annuaire.invites (medium, address);

CREATE TABLE annuaire.onbind_queue (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    destination     text        NOT NULL, -- the server name of the bound Matrix ID
    body            jsonb       NOT NULL, -- the signed association with its invites
    tokens          text[]      NOT NULL, -- invites to forget once delivered
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    gave_up_at      timestamptz,
    last_error      text,
    CONSTRAINT onbind_queue_pkey PRIMARY KEY (id)
);
CREATE INDEX onbind_queue_due_idx ON annuaire.onbind_queue (next_attempt_at)
    WHERE done_at IS NULL AND gave_up_at IS NULL;
