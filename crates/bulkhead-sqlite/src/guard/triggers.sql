-- The guard triggers of one table (see guard.rs): a write may touch only rows of the
-- connection's current workspace or organization, judged on the row as it is (OLD) and as it
-- will be (NEW), so a row can be neither written into nor moved out of another owner. With no
-- owner set, {current}() is NULL and every write aborts: the guard fails closed.
--
-- Placeholders, filled per entry of the compile-time table list `GUARDED` in guard.rs (never
-- from data): {table} the table, {key} the column naming a row's owner, {current} the function
-- naming the current owner (bulkhead_workspace or bulkhead_org), {scope} the owner's kind in
-- the error message (workspace or organization), {unless_system} empty for the tenant tables,
-- `NOT bulkhead_system() AND ` for the tables system mode may write whole.
CREATE TEMP TRIGGER bulkhead_guard_{table}_insert BEFORE INSERT ON main.{table}
BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into {table} outside the current {scope}')
    WHERE {unless_system}NEW.{key} IS NOT {current}(); END;
CREATE TEMP TRIGGER bulkhead_guard_{table}_update BEFORE UPDATE ON main.{table}
BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of {table} outside the current {scope}')
    WHERE {unless_system}(OLD.{key} IS NOT {current}() OR NEW.{key} IS NOT {current}()); END;
CREATE TEMP TRIGGER bulkhead_guard_{table}_delete BEFORE DELETE ON main.{table}
BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from {table} outside the current {scope}')
    WHERE {unless_system}OLD.{key} IS NOT {current}(); END;
