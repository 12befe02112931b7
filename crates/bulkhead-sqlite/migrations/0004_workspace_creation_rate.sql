-- 4: the workspace-creation rate limit of each organization.

    ALTER TABLE organizations ADD COLUMN workspace_creation_burst INTEGER NOT NULL DEFAULT 100
        CHECK (workspace_creation_burst > 0);
    ALTER TABLE organizations ADD COLUMN workspace_creation_rate INTEGER NOT NULL DEFAULT 10
        CHECK (workspace_creation_rate > 0);
    