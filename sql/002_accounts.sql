-- 002: identity-service accounts (tokens from POST /account/register) and the
-- terms each user accepted.

CREATE TABLE annuaire.accounts (
    token_hash   text        NOT NULL, -- hex SHA-256 of the access token; the token is never stored
    user_id      text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_pkey PRIMARY KEY (token_hash),
    CONSTRAINT accounts_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX accounts_user_id_idx ON annuaire.accounts (user_id);

CREATE TABLE annuaire.accepted_terms (
    user_id      text        NOT NULL,
    url          text        NOT NULL,
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accepted_terms_pkey PRIMARY KEY (user_id, url)
);
