-- 003: 3PID validation sessions and the outbound mail queue.

CREATE TABLE annuaire.validation_sessions (
    sid                text        NOT NULL,
    medium             text        NOT NULL,
    address            text        NOT NULL, -- normalised (domain lower-cased, case folded)
    client_secret_hash text        NOT NULL, -- hex SHA-256; the secret itself is not stored
    send_attempt       bigint      NOT NULL,
    token_hash         text        NOT NULL, -- hex SHA-256 of the token mailed
    token_tries        integer     NOT NULL DEFAULT 0,
    next_link          text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    modified_at        timestamptz NOT NULL DEFAULT now(), -- creation, new token, validation
    validated_at       timestamptz,
    CONSTRAINT validation_sessions_pkey PRIMARY KEY (sid),
    CONSTRAINT validation_sessions_medium_check CHECK (medium IN ('email', 'msisdn')),
    CONSTRAINT validation_sessions_secret_key UNIQUE (medium, address, client_secret_hash)
);
CREATE INDEX validation_sessions_modified_at_idx ON annuaire.validation_sessions (modified_at);

-- Mail is written here in the transaction that decides to send it, then
-- delivered by a sender thread; delivered rows keep no body.
CREATE TABLE annuaire.mail_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    recipient       text        NOT NULL,
    message         text,                   -- the whole RFC 5322 message; NULL once sent
    kind            text        NOT NULL,   -- verification, invite, ...
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text,
    CONSTRAINT mail_outbox_pkey PRIMARY KEY (id)
);
CREATE INDEX mail_outbox_due_idx ON annuaire.mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
