-- 8: worker keys. An organization's key has a role: `organization` (every key made
-- before, the organization's full power) or `worker` (the job protocol only; see
-- bulkhead_core::keys). The policies of `org_keys` are unchanged: a lookup by hash reads
-- the role with the row.

    ALTER TABLE org_keys ADD COLUMN role text NOT NULL DEFAULT 'organization'
        CHECK (role IN ('organization', 'worker'));
    