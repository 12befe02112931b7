-- 8: workspace creations counted by hour over a recent range (the organization's
-- dashboard) read only the rows in the range.

    CREATE INDEX workspaces_created ON workspaces (org_id, created_at);
    