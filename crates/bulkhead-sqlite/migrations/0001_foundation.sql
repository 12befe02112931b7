-- 1: the foundation.

    CREATE TABLE organizations (
        id          BLOB    NOT NULL PRIMARY KEY,
        name        TEXT    NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE workspaces (
        id          BLOB    NOT NULL PRIMARY KEY,
        org_id      BLOB    NOT NULL REFERENCES organizations (id),
        external_id TEXT    NOT NULL,
        name        TEXT    NOT NULL,
        status      TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (org_id, external_id),
        UNIQUE (org_id, id)
    ) STRICT;

    CREATE TABLE sources (
        workspace_id BLOB    NOT NULL,
        id           BLOB    NOT NULL,
        org_id       BLOB    NOT NULL,
        name         TEXT    NOT NULL,
        connector    TEXT    NOT NULL,
        config       TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sources_by_created ON sources (workspace_id, created_at, id);

    CREATE TABLE destinations (
        workspace_id BLOB    NOT NULL,
        id           BLOB    NOT NULL,
        org_id       BLOB    NOT NULL,
        name         TEXT    NOT NULL,
        connector    TEXT    NOT NULL,
        config       TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX destinations_by_created ON destinations (workspace_id, created_at, id);

    CREATE TABLE connections (
        workspace_id   BLOB    NOT NULL,
        id             BLOB    NOT NULL,
        org_id         BLOB    NOT NULL,
        name           TEXT    NOT NULL,
        source_id      BLOB    NOT NULL,
        destination_id BLOB    NOT NULL,
        status         TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
        schedule       TEXT    NOT NULL,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, source_id) REFERENCES sources (workspace_id, id),
        FOREIGN KEY (workspace_id, destination_id) REFERENCES destinations (workspace_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX connections_by_created ON connections (workspace_id, created_at, id);
    CREATE INDEX connections_by_source ON connections (workspace_id, source_id);
    CREATE INDEX connections_by_destination ON connections (workspace_id, destination_id);

    CREATE TABLE sync_runs (
        workspace_id  BLOB    NOT NULL,
        id            BLOB    NOT NULL,
        org_id        BLOB    NOT NULL,
        connection_id BLOB    NOT NULL,
        status        TEXT    NOT NULL
            CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        started_at    INTEGER NOT NULL,
        finished_at   INTEGER,
        rows_synced   INTEGER NOT NULL CHECK (rows_synced >= 0),
        bytes_synced  INTEGER NOT NULL CHECK (bytes_synced >= 0),
        error         TEXT,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sync_runs_by_connection
        ON sync_runs (workspace_id, connection_id, started_at, id);
    