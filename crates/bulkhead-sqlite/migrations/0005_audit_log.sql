-- 5: the audit log, one hash chain per organization (see bulkhead_core::audit).

    CREATE TABLE audit_log (
        org_id       BLOB    NOT NULL REFERENCES organizations (id),
        seq          INTEGER NOT NULL CHECK (seq > 0),
        at           INTEGER NOT NULL,
        actor        TEXT    NOT NULL,
        action       TEXT    NOT NULL,
        workspace_id BLOB,
        target       TEXT    NOT NULL,
        outcome      TEXT    NOT NULL,
        prev_hash    BLOB    NOT NULL,
        hash         BLOB    NOT NULL,
        PRIMARY KEY (org_id, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX audit_log_by_workspace ON audit_log (org_id, workspace_id, seq);
    