-- 2: the audit log, one hash chain per organization (see bulkhead_core::audit). Select
-- and insert only: no policy lets the restricted role change or delete an event.

    CREATE TABLE audit_log (
        org_id       uuid   NOT NULL REFERENCES organizations (id),
        seq          bigint NOT NULL CHECK (seq > 0),
        at           bigint NOT NULL,
        actor        text   NOT NULL,
        action       text   NOT NULL,
        workspace_id uuid,
        target       text   NOT NULL,
        outcome      text   NOT NULL,
        prev_hash    bytea  NOT NULL,
        hash         bytea  NOT NULL,
        PRIMARY KEY (org_id, seq)
    );
    CREATE INDEX audit_log_by_workspace ON audit_log (org_id, workspace_id, seq);
    ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
    ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_select ON audit_log FOR SELECT
        USING (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    CREATE POLICY org_insert ON audit_log FOR INSERT
        WITH CHECK (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    