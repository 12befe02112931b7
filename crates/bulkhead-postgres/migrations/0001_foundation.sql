-- 1: everything SQLite's migrations 1-4 make, and the policies.

    CREATE TABLE bulkhead_meta (
        key   text  NOT NULL PRIMARY KEY,
        value bytea NOT NULL
    );

    CREATE TABLE organizations (
        id                       uuid   NOT NULL PRIMARY KEY,
        name                     text   NOT NULL,
        created_at               bigint NOT NULL,
        token_algorithm          text   NOT NULL DEFAULT 'HS256'
            CHECK (token_algorithm IN ('HS256', 'EdDSA')),
        issuer                   text   NOT NULL DEFAULT 'bulkhead',
        audience                 text   NOT NULL DEFAULT 'bulkhead-workspace',
        default_ttl_secs         bigint NOT NULL DEFAULT 1200,
        max_ttl_secs             bigint NOT NULL DEFAULT 3600,
        workspace_creation_burst bigint NOT NULL DEFAULT 100
            CHECK (workspace_creation_burst > 0),
        workspace_creation_rate  bigint NOT NULL DEFAULT 10
            CHECK (workspace_creation_rate > 0)
    );

    CREATE TABLE workspaces (
        id                   uuid   NOT NULL PRIMARY KEY,
        org_id               uuid   NOT NULL REFERENCES organizations (id),
        external_id          text   COLLATE "C" NOT NULL,
        name                 text   NOT NULL,
        status               text   NOT NULL CHECK (status IN ('active', 'inactive')),
        created_at           bigint NOT NULL,
        updated_at           bigint NOT NULL,
        source_tags          text   NOT NULL DEFAULT '[]',
        source_tags_mode     text   NOT NULL DEFAULT 'any'
            CHECK (source_tags_mode IN ('any', 'all')),
        connection_tags      text   NOT NULL DEFAULT '[]',
        connection_tags_mode text   NOT NULL DEFAULT 'any'
            CHECK (connection_tags_mode IN ('any', 'all')),
        tokens_valid_after   bigint,
        sealed_dek           bytea,
        UNIQUE (org_id, external_id),
        UNIQUE (org_id, id)
    );

    CREATE TABLE sources (
        workspace_id uuid   NOT NULL,
        id           uuid   NOT NULL,
        org_id       uuid   NOT NULL,
        name         text   NOT NULL,
        connector    text   NOT NULL,
        config       text   NOT NULL,
        created_at   bigint NOT NULL,
        updated_at   bigint NOT NULL,
        template_id  uuid,
        secrets      text   NOT NULL DEFAULT '{}',
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    );
    CREATE INDEX sources_by_created ON sources (workspace_id, created_at, id);

    CREATE TABLE destinations (
        workspace_id uuid   NOT NULL,
        id           uuid   NOT NULL,
        org_id       uuid   NOT NULL,
        name         text   NOT NULL,
        connector    text   NOT NULL,
        config       text   NOT NULL,
        created_at   bigint NOT NULL,
        updated_at   bigint NOT NULL,
        template_id  uuid,
        secrets      text   NOT NULL DEFAULT '{}',
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    );
    CREATE INDEX destinations_by_created ON destinations (workspace_id, created_at, id);
    -- One destination per connection template per workspace: what sources made from
    -- templates share.
    CREATE UNIQUE INDEX destinations_by_template ON destinations (workspace_id, template_id)
        WHERE template_id IS NOT NULL;

    CREATE TABLE connections (
        workspace_id   uuid   NOT NULL,
        id             uuid   NOT NULL,
        org_id         uuid   NOT NULL,
        name           text   NOT NULL,
        source_id      uuid   NOT NULL,
        destination_id uuid   NOT NULL,
        status         text   NOT NULL CHECK (status IN ('active', 'inactive')),
        schedule       text   NOT NULL,
        created_at     bigint NOT NULL,
        updated_at     bigint NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, source_id) REFERENCES sources (workspace_id, id),
        FOREIGN KEY (workspace_id, destination_id) REFERENCES destinations (workspace_id, id)
    );
    CREATE INDEX connections_by_created ON connections (workspace_id, created_at, id);
    CREATE INDEX connections_by_source ON connections (workspace_id, source_id);
    CREATE INDEX connections_by_destination ON connections (workspace_id, destination_id);

    CREATE TABLE sync_runs (
        workspace_id  uuid   NOT NULL,
        id            uuid   NOT NULL,
        org_id        uuid   NOT NULL,
        connection_id uuid   NOT NULL,
        status        text   NOT NULL
            CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        started_at    bigint NOT NULL,
        finished_at   bigint,
        rows_synced   bigint NOT NULL CHECK (rows_synced >= 0),
        bytes_synced  bigint NOT NULL CHECK (bytes_synced >= 0),
        error         text,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id)
    );
    CREATE INDEX sync_runs_by_connection
        ON sync_runs (workspace_id, connection_id, started_at, id);

    -- Only the SHA-256 of an org access key is stored, never the key.
    CREATE TABLE org_keys (
        id           uuid   NOT NULL PRIMARY KEY,
        org_id       uuid   NOT NULL REFERENCES organizations (id),
        prefix       text   NOT NULL,
        hash         bytea  NOT NULL UNIQUE,
        created_at   bigint NOT NULL,
        expires_at   bigint,
        last_used_at bigint,
        revoked_at   bigint
    );
    CREATE INDEX org_keys_by_org ON org_keys (org_id, created_at);

    -- Secrets are sealed under the master key (AES-256-GCM), bound to org id and kid.
    CREATE TABLE signing_keys (
        kid           text   COLLATE "C" NOT NULL PRIMARY KEY,
        org_id        uuid   NOT NULL REFERENCES organizations (id),
        algorithm     text   NOT NULL CHECK (algorithm IN ('HS256', 'EdDSA')),
        sealed_secret bytea  NOT NULL,
        public_key    bytea,
        created_at    bigint NOT NULL,
        retire_at     bigint
    );
    CREATE INDEX signing_keys_by_org ON signing_keys (org_id, created_at);

    CREATE TABLE revoked_tokens (
        workspace_id uuid   NOT NULL,
        jti          text   NOT NULL,
        org_id       uuid   NOT NULL,
        expires_at   bigint NOT NULL,
        PRIMARY KEY (workspace_id, jti),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    );

    CREATE TABLE tags (
        org_id     uuid   NOT NULL REFERENCES organizations (id),
        name       text   COLLATE "C" NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (org_id, name)
    );

    -- Kind-specific fields are JSON in `body`; secret fields are sealed under the master key
    -- in `secrets` and masked in `body`.
    CREATE TABLE source_templates (
        id         uuid   NOT NULL PRIMARY KEY,
        org_id     uuid   NOT NULL REFERENCES organizations (id),
        name       text   NOT NULL,
        tags       text   NOT NULL,
        body       text   NOT NULL,
        secrets    text   NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
    );
    CREATE INDEX source_templates_by_org ON source_templates (org_id, created_at);

    CREATE TABLE connection_templates (
        id         uuid   NOT NULL PRIMARY KEY,
        org_id     uuid   NOT NULL REFERENCES organizations (id),
        name       text   NOT NULL,
        tags       text   NOT NULL,
        body       text   NOT NULL,
        secrets    text   NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
    );
    CREATE INDEX connection_templates_by_org ON connection_templates (org_id, created_at);

    -- Row Level Security. The settings are transaction-local; unset, they are '' -> NULL,
    -- which matches nothing.
    DO $policies$
    DECLARE
        t text;
        ws   constant text := $$(workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid)$$;
        org  constant text := $$(org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid)$$;
    BEGIN
        FOREACH t IN ARRAY ARRAY['sources', 'destinations', 'connections', 'sync_runs',
                                 'revoked_tokens'] LOOP
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('CREATE POLICY tenant_select ON %I FOR SELECT USING %s', t, ws);
            EXECUTE format('CREATE POLICY tenant_insert ON %I FOR INSERT WITH CHECK %s', t, ws);
            EXECUTE format('CREATE POLICY tenant_update ON %I FOR UPDATE USING %s WITH CHECK %s',
                           t, ws, ws);
            EXECUTE format('CREATE POLICY tenant_delete ON %I FOR DELETE USING %s', t, ws);
        END LOOP;
        FOREACH t IN ARRAY ARRAY['org_keys', 'signing_keys', 'tags', 'source_templates',
                                 'connection_templates'] LOOP
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('CREATE POLICY org_select ON %I FOR SELECT USING %s', t, org);
            EXECUTE format('CREATE POLICY org_insert ON %I FOR INSERT WITH CHECK %s', t, org);
            EXECUTE format('CREATE POLICY org_update ON %I FOR UPDATE USING %s WITH CHECK %s',
                           t, org, org);
            EXECUTE format('CREATE POLICY org_delete ON %I FOR DELETE USING %s', t, org);
        END LOOP;
    END
    $policies$;

    -- A workspace is seen by its organization, and only by itself when a workspace is set.
    ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
    ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_all ON workspaces FOR ALL
        USING (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid
               AND (NULLIF(current_setting('bulkhead.workspace_id', true), '') IS NULL
                    OR id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid))
        WITH CHECK (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid
               AND (NULLIF(current_setting('bulkhead.workspace_id', true), '') IS NULL
                    OR id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid));

    ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
    ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_all ON organizations FOR ALL
        USING (id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid)
        WITH CHECK (id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    CREATE POLICY operator_list ON organizations FOR SELECT
        USING (current_setting('bulkhead.operator', true) = 'list');

    -- Credential lookups before any organization is known: exactly the key named.
    CREATE POLICY lookup_by_hash ON org_keys FOR SELECT
        USING (hash = decode(NULLIF(current_setting('bulkhead.key_hash', true), ''), 'hex'));
    CREATE POLICY lookup_by_id ON org_keys FOR SELECT
        USING (id = NULLIF(current_setting('bulkhead.key_id', true), '')::uuid);
    CREATE POLICY touch_by_id ON org_keys FOR UPDATE
        USING (id = NULLIF(current_setting('bulkhead.key_id', true), '')::uuid)
        WITH CHECK (id = NULLIF(current_setting('bulkhead.key_id', true), '')::uuid);
    CREATE POLICY lookup_by_kid ON signing_keys FOR SELECT
        USING (kid = NULLIF(current_setting('bulkhead.kid', true), ''));
    