-- 001: the annuaire schema and the record of applied migrations.
-- Migrations are forward-only and never edited once released; each runs in
-- one transaction (opened by `annuaire migrate`, so no BEGIN/COMMIT here).

CREATE SCHEMA IF NOT EXISTS annuaire;

CREATE TABLE annuaire.schema_version (
    version    integer     NOT NULL,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schema_version_pkey PRIMARY KEY (version)
);
