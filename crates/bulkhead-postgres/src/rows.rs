//! Turning PostgreSQL rows into core values: [`Columns`] for a `postgres` row, and the
//! decoders of `bulkhead_core::columns` under the names the store uses. A stored value that
//! fails core's validation is a corrupt row: it surfaces as a storage error, never as the
//! caller's invalid input.

use bulkhead_core::columns::{self, Columns};
use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::store::{
    ConnectionState, CreationCount, EndpointKind, EndpointRow, StatusCount, TemplateKind,
    TemplateRow, TokenState,
};
use bulkhead_core::{Connection, ConnectionId, Organization, Result, SyncRun, TagInfo, Workspace};
use postgres::Row;
use postgres::types::FromSql;
use uuid::Uuid;

use crate::Ctx;

pub(crate) use bulkhead_core::columns::sql_count;
pub(crate) use bulkhead_core::{
    connection_columns, connection_state_columns, endpoint_columns, org_columns, org_key_columns,
    signing_key_columns, sync_run_columns, template_columns, workspace_columns,
};

/// A `postgres` row as [`Columns`]: UUIDs are `uuid`, times `bigint` milliseconds.
struct Cols<'a>(&'a Row);

impl<'a> Cols<'a> {
    fn get<T: FromSql<'a>>(&self, index: usize, name: &str) -> Result<T> {
        self.0
            .try_get(index)
            .ctx(format_args!("could not read column `{name}`"))
    }
}

impl Columns for Cols<'_> {
    fn text(&self, index: usize, name: &str) -> Result<String> {
        self.get(index, name)
    }
    fn opt_text(&self, index: usize, name: &str) -> Result<Option<String>> {
        self.get(index, name)
    }
    fn int(&self, index: usize, name: &str) -> Result<i64> {
        self.get(index, name)
    }
    fn opt_int(&self, index: usize, name: &str) -> Result<Option<i64>> {
        self.get(index, name)
    }
    fn uuid(&self, index: usize, name: &str) -> Result<Uuid> {
        self.get(index, name)
    }
    fn opt_uuid(&self, index: usize, name: &str) -> Result<Option<Uuid>> {
        self.get(index, name)
    }
    fn bytes(&self, index: usize, name: &str) -> Result<Vec<u8>> {
        self.get(index, name)
    }
    fn opt_bytes(&self, index: usize, name: &str) -> Result<Option<Vec<u8>>> {
        self.get(index, name)
    }
    fn flag(&self, index: usize, name: &str) -> Result<bool> {
        self.get(index, name)
    }
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
    organization -> Organization,
    workspace -> Workspace,
    token_state -> TokenState,
    org_key -> OrgKeyRow,
    signing_key -> SigningKeyRow,
    tag -> TagInfo,
    connection -> Connection,
    connection_state -> (ConnectionId, ConnectionState),
    sync_run -> SyncRun,
    status_count -> StatusCount,
    creation_count -> CreationCount,
);

pub(crate) fn endpoint(kind: EndpointKind, row: &Row) -> Result<EndpointRow> {
    columns::endpoint(kind, &Cols(row))
}

pub(crate) fn template(kind: TemplateKind, row: &Row) -> Result<TemplateRow> {
    columns::template(kind, &Cols(row))
}
