-- 7: at most one running sync per connection, kept by the database. Runs left running
-- side by side from before this rule are ended as cancelled, all but the latest.

    UPDATE sync_runs SET status = 'cancelled', finished_at = unixepoch() * 1000
    WHERE status = 'running' AND EXISTS (
        SELECT 1 FROM sync_runs AS later
        WHERE later.workspace_id = sync_runs.workspace_id
          AND later.connection_id = sync_runs.connection_id
          AND later.status = 'running'
          AND (later.started_at > sync_runs.started_at
               OR (later.started_at = sync_runs.started_at AND later.id > sync_runs.id)));
    CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (workspace_id, connection_id)
        WHERE status = 'running';
    