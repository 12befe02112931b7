//! Turning PostgreSQL rows into core values: [`Columns`] for a `postgres` row, and the
//! decoders of `bulkhead_sql::columns` under the names the store uses. A stored value that
//! fails core's validation is a corrupt row: it surfaces as a storage error, never as the
//! caller's invalid input.

use bulkhead_core::store::{ConnectionState, TemplateKind, TemplateRow};
use bulkhead_core::{ConnectionId, Result, SyncRun, TagInfo, Workspace};
use bulkhead_sql::columns::{self, Columns};
use postgres::Row;
use postgres::types::FromSql;

use crate::Ctx;

pub(crate) use bulkhead_sql::columns::sql_count;
pub(crate) use bulkhead_sql::{
    connection_state_columns, sync_run_columns, template_columns, workspace_columns,
};

/// A `postgres` row as [`Columns`]: UUIDs are `uuid`, times `bigint` milliseconds.
pub(crate) struct Cols<'a>(pub(crate) &'a Row);

impl<'a> Cols<'a> {
    fn get<T: FromSql<'a>>(&self, index: usize, name: &str) -> Result<T> {
        self.0
            .try_get(index)
            .ctx(format_args!("could not read column `{name}`"))
    }
}

impl Columns for Cols<'_> {
    bulkhead_sql::columns_by_get!();
    fn is_empty_map(&self, index: usize, name: &str) -> Result<bool> {
        let text: &str = self.get(index, name)?;
        Ok(text == "{}")
    }
}

macro_rules! decoders {
    ($($name:ident -> $ty:ty),+ $(,)?) => {
        $(
            pub(crate) fn $name(row: &Row) -> Result<$ty> {
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

pub(crate) fn template(kind: TemplateKind, row: &Row) -> Result<TemplateRow> {
    columns::template(kind, &Cols(row))
}
