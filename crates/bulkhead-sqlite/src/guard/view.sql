-- The guard view of one table (see guard.rs): a SELECT reads the table only through it, and it
-- shows only the rows of the connection's current workspace or organization.
--
-- Placeholders, filled per entry of the compile-time table list `GUARDED` in guard.rs (never
-- from data): {view} the view's name, {table} the table, {key} the column naming a row's owner,
-- {current} the function naming the current owner (bulkhead_workspace or bulkhead_org).
CREATE TEMP VIEW {view} AS SELECT * FROM main.{table} WHERE {key} = {current}();
