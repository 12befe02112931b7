-- 11: worker keys. An organization's key has a role: `organization` (every key made
-- before, the organization's full power) or `worker` (the job protocol only; see
-- bulkhead_core::keys).

    ALTER TABLE org_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'organization'
        CHECK (role IN ('organization', 'worker'));
    