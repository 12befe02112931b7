-- 2: credentials (org keys, signing keys, revocation), token settings, tag selections.

    CREATE TABLE bulkhead_meta (
        key   TEXT NOT NULL PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;

    ALTER TABLE organizations ADD COLUMN token_algorithm TEXT NOT NULL DEFAULT 'HS256'
        CHECK (token_algorithm IN ('HS256', 'EdDSA'));
    ALTER TABLE organizations ADD COLUMN issuer TEXT NOT NULL DEFAULT 'bulkhead';
    ALTER TABLE organizations ADD COLUMN audience TEXT NOT NULL DEFAULT 'bulkhead-workspace';
    ALTER TABLE organizations ADD COLUMN default_ttl_secs INTEGER NOT NULL DEFAULT 1200;
    ALTER TABLE organizations ADD COLUMN max_ttl_secs INTEGER NOT NULL DEFAULT 3600;

    ALTER TABLE workspaces ADD COLUMN source_tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE workspaces ADD COLUMN source_tags_mode TEXT NOT NULL DEFAULT 'any'
        CHECK (source_tags_mode IN ('any', 'all'));
    ALTER TABLE workspaces ADD COLUMN connection_tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE workspaces ADD COLUMN connection_tags_mode TEXT NOT NULL DEFAULT 'any'
        CHECK (connection_tags_mode IN ('any', 'all'));
    ALTER TABLE workspaces ADD COLUMN tokens_valid_after INTEGER;

    -- Only the SHA-256 of an org access key is stored, never the key.
    CREATE TABLE org_keys (
        id           BLOB    NOT NULL PRIMARY KEY,
        org_id       BLOB    NOT NULL REFERENCES organizations (id),
        prefix       TEXT    NOT NULL,
        hash         BLOB    NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER
    ) STRICT;
    CREATE INDEX org_keys_by_org ON org_keys (org_id, created_at);

    -- Secrets are sealed under the master key (AES-256-GCM), bound to org id and kid.
    CREATE TABLE signing_keys (
        kid           TEXT    NOT NULL PRIMARY KEY,
        org_id        BLOB    NOT NULL REFERENCES organizations (id),
        algorithm     TEXT    NOT NULL CHECK (algorithm IN ('HS256', 'EdDSA')),
        sealed_secret BLOB    NOT NULL,
        public_key    BLOB,
        created_at    INTEGER NOT NULL,
        retire_at     INTEGER
    ) STRICT;
    CREATE INDEX signing_keys_by_org ON signing_keys (org_id, created_at);

    CREATE TABLE revoked_tokens (
        workspace_id BLOB    NOT NULL,
        jti          TEXT    NOT NULL,
        org_id       BLOB    NOT NULL,
        expires_at   INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, jti),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    ) STRICT, WITHOUT ROWID;
    