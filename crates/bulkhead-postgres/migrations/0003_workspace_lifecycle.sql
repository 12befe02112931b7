-- 3: workspace tombstones (kept with their rows until purged), and the connections a
-- workspace paused when it was made inactive, to resume exactly those.

    ALTER TABLE workspaces ADD COLUMN deleted_at bigint;
    ALTER TABLE workspaces ADD COLUMN merged_into uuid;
    ALTER TABLE connections ADD COLUMN paused_by_workspace boolean NOT NULL DEFAULT false;
    CREATE INDEX workspaces_deleted ON workspaces (org_id, deleted_at)
        WHERE deleted_at IS NOT NULL;
    