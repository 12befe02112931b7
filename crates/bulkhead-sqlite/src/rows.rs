//! Turning SQLite rows into core values: [`Columns`] for a `rusqlite` row, and the decoders
//! of `bulkhead_sql::columns` under the names the store uses. A stored value that fails
//! core's validation is a corrupt row: it surfaces as a storage error, never as the caller's
//! invalid input.

use bulkhead_core::store::{ConnectionState, TemplateKind, TemplateRow};
use bulkhead_core::{ConnectionId, Result, SyncRun, TagInfo, Workspace};
use bulkhead_sql::columns::{self, Columns};
use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{Params, Row, Statement};

use crate::Ctx;
use crate::guard::Db;

pub(crate) use bulkhead_sql::columns::sql_count;
pub(crate) use bulkhead_sql::{
    connection_state_columns, sync_run_columns, template_columns, workspace_columns,
};

/// A `rusqlite` row as [`Columns`]: UUIDs are 16-byte BLOBs, times integer milliseconds.
pub(crate) struct Cols<'a, 'r>(pub(crate) &'a Row<'r>);

impl Cols<'_, '_> {
    fn get<T: FromSql>(&self, index: usize, name: &str) -> Result<T> {
        self.0
            .get(index)
            .ctx(format_args!("could not read column `{name}`"))
    }
}

impl Columns for Cols<'_, '_> {
    bulkhead_sql::columns_by_get!();
    fn is_empty_map(&self, index: usize, name: &str) -> Result<bool> {
        let value = self
            .0
            .get_ref(index)
            .ctx(format_args!("could not read column `{name}`"))?;
        Ok(matches!(value, ValueRef::Text(b"{}")))
    }
}

impl Db<'_> {
    /// Prepares `sql` (cached, through the guard's statement mark) and decodes its first
    /// row, if any.
    pub(crate) fn query_first<T>(
        &self,
        sql: &'static str,
        params: impl Params,
        decode: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self
            .prepare_cached(sql)
            .ctx("could not prepare a statement")?;
        first(&mut stmt, params, decode)
    }

    /// Prepares `sql` (cached, through the guard's statement mark) and decodes every row.
    pub(crate) fn query_all<T>(
        &self,
        sql: &'static str,
        params: impl Params,
        decode: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self
            .prepare_cached(sql)
            .ctx("could not prepare a statement")?;
        collect(&mut stmt, params, decode)
    }
}

/// Runs a prepared query and decodes every row with `decode`.
pub(crate) fn collect<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params).ctx("query failed")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("could not read a row")? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a prepared query that returns at most one row.
pub(crate) fn first<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut rows = stmt.query(params).ctx("query failed")?;
    match rows.next().ctx("could not read a row")? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

macro_rules! decoders {
    ($($name:ident -> $ty:ty),+ $(,)?) => {
        $(
            pub(crate) fn $name(row: &Row<'_>) -> Result<$ty> {
                columns::$name(&Cols(row))
            }
        )+
    };
}

decoders!(
    workspace -> Workspace,
    tag -> TagInfo,
    connection_state -> (ConnectionId, ConnectionState),
    sync_run -> SyncRun,
);

pub(crate) fn template(kind: TemplateKind, row: &Row<'_>) -> Result<TemplateRow> {
    columns::template(kind, &Cols(row))
}
