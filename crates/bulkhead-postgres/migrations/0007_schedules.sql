-- 7: the scheduler's due times.

    CREATE TABLE sched_connection (
        workspace_id  uuid   NOT NULL,
        connection_id uuid   NOT NULL,
        org_id        uuid   NOT NULL,
        schedule      text   NOT NULL CHECK (schedule <> 'manual'),
        due_at        bigint NOT NULL,
        PRIMARY KEY (workspace_id, connection_id),
        FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id)
            ON DELETE CASCADE
    );
    CREATE INDEX sched_connection_due ON sched_connection (due_at);
    CREATE INDEX sched_connection_org_due ON sched_connection (org_id, due_at);
    ALTER TABLE sched_connection ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sched_connection FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_select ON sched_connection FOR SELECT
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_insert ON sched_connection FOR INSERT
        WITH CHECK (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_update ON sched_connection FOR UPDATE
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid)
        WITH CHECK (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_delete ON sched_connection FOR DELETE
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY scheduler_select ON sched_connection FOR SELECT
        USING (current_setting('bulkhead.operator', true) = 'scheduler');
    CREATE POLICY scheduler_update ON sched_connection FOR UPDATE
        USING (current_setting('bulkhead.operator', true) = 'scheduler')
        WITH CHECK (current_setting('bulkhead.operator', true) = 'scheduler');
    CREATE POLICY scheduler_delete ON sched_connection FOR DELETE
        USING (current_setting('bulkhead.operator', true) = 'scheduler');
