-- 004: 3PID associations (bind) and the pepper of the hashed lookup.

CREATE TABLE annuaire.lookup_pepper (
    singleton   boolean     NOT NULL DEFAULT true,
    pepper      text        NOT NULL,
    rotated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lookup_pepper_pkey PRIMARY KEY (singleton),
    CONSTRAINT lookup_pepper_singleton_check CHECK (singleton),
    CONSTRAINT lookup_pepper_pepper_check CHECK (pepper ~ '^[A-Za-z0-9_-]{8,64}$')
);

-- The hash a client sends to /lookup (algorithm sha256): unpadded URL-safe base64
-- of SHA-256("<address> <medium> <pepper>").
CREATE FUNCTION annuaire.lookup_hash(address text, medium text, pepper text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(rtrim(encode(sha256(convert_to(address || ' ' || medium || ' ' || pepper,
                                                    'UTF8')), 'base64'), '='), '+/', '-_')
$$;

CREATE TABLE annuaire.associations (
    medium       text        NOT NULL,
    address      text        NOT NULL, -- normalised
    mxid         text        NOT NULL,
    ts           bigint      NOT NULL, -- ms, as signed
    not_before   bigint      NOT NULL,
    not_after    bigint      NOT NULL,
    lookup_hash  text        NOT NULL, -- with the current pepper; recomputed on rotation
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT associations_pkey PRIMARY KEY (medium, address),
    CONSTRAINT associations_medium_check CHECK (medium IN ('email', 'msisdn'))
);
CREATE INDEX associations_lookup_hash_idx ON annuaire.associations (lookup_hash);
CREATE INDEX associations_mxid_idx ON annuaire.associations (mxid);
