-- The guard's triggers that are not a table's share of the rule in triggers.sql (see
-- guard.rs); this file has no placeholders and runs as it is.
-- The scheduler's one global row: written in system mode only.
CREATE TEMP TRIGGER bulkhead_guard_sched_global_write BEFORE UPDATE ON main.sched_global
BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: the scheduler row is written in system mode only')
    WHERE NOT bulkhead_system(); END;
-- The audit log is append-only for the store: no statement of this connection changes or
-- removes an event.
CREATE TEMP TRIGGER bulkhead_audit_no_update BEFORE UPDATE ON main.audit_log
BEGIN SELECT RAISE(ABORT, 'bulkhead audit log is append-only'); END;
CREATE TEMP TRIGGER bulkhead_audit_no_delete BEFORE DELETE ON main.audit_log
BEGIN SELECT RAISE(ABORT, 'bulkhead audit log is append-only'); END;
