-- 015: the indexes of the admin API's reads: the sync runs of one source newest first
-- (GET .../sync/runs?source=), and the audit log by actor and by object, newest first
-- (GET .../audit, annuaire audit). The list of every run or entry walks the primary key
-- backwards; the filter by action has audit_log_action_idx (014).
CREATE INDEX sync_runs_source_id_idx ON annuaire.sync_runs (source, id DESC);
CREATE INDEX audit_log_actor_idx ON annuaire.audit_log (actor, id DESC);
CREATE INDEX audit_log_object_idx ON annuaire.audit_log (object_kind, object_id, id DESC);

-- Times as the admin API shows them: ISO 8601 UTC with milliseconds.
CREATE FUNCTION annuaire.iso_utc(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
