-- 6: workspace lifecycle: tombstones (deleted, or merged into another workspace) and the
-- connections an inactive workspace paused.

    ALTER TABLE workspaces ADD COLUMN deleted_at INTEGER;
    ALTER TABLE workspaces ADD COLUMN merged_into BLOB;
    ALTER TABLE connections ADD COLUMN paused_by_workspace INTEGER NOT NULL DEFAULT 0
        CHECK (paused_by_workspace IN (0, 1));
    CREATE INDEX workspaces_deleted ON workspaces (org_id, deleted_at)
        WHERE deleted_at IS NOT NULL;
    