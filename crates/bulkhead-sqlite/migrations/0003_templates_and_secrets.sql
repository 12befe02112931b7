-- 3: tags, templates, sealed secrets and per-workspace data keys.

    CREATE TABLE tags (
        org_id     BLOB    NOT NULL REFERENCES organizations (id),
        name       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, name)
    ) STRICT, WITHOUT ROWID;

    -- Kind-specific fields are JSON in `body`; secret fields are sealed under the master key
    -- in `secrets` and masked in `body`.
    CREATE TABLE source_templates (
        id         BLOB    NOT NULL PRIMARY KEY,
        org_id     BLOB    NOT NULL REFERENCES organizations (id),
        name       TEXT    NOT NULL,
        tags       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        secrets    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX source_templates_by_org ON source_templates (org_id, created_at);

    CREATE TABLE connection_templates (
        id         BLOB    NOT NULL PRIMARY KEY,
        org_id     BLOB    NOT NULL REFERENCES organizations (id),
        name       TEXT    NOT NULL,
        tags       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        secrets    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX connection_templates_by_org ON connection_templates (org_id, created_at);

    -- The workspace's data key, sealed under the master key; NULL until first needed and
    -- after the workspace is deleted.
    ALTER TABLE workspaces ADD COLUMN sealed_dek BLOB;

    -- Secret fields are masked in `config` and sealed with the workspace's data key here.
    ALTER TABLE sources ADD COLUMN template_id BLOB;
    ALTER TABLE sources ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE destinations ADD COLUMN template_id BLOB;
    ALTER TABLE destinations ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';
    -- One destination per connection template per workspace: what sources made from
    -- templates share.
    CREATE UNIQUE INDEX destinations_by_template ON destinations (workspace_id, template_id)
        WHERE template_id IS NOT NULL;
    