//! Every required method of the storage port, listed once for code that must repeat each of
//! them: [`store_methods!`](crate::store_methods) (see its docs).
//!
//! The traits in [`crate::port::store`] stay the declarations a reader (and rustdoc) sees; this
//! list repeats their signatures and adds what the traits cannot say, whether a call may write.
//! The unit test below implements the six traits from the list, so the compiler fails it when a
//! method is added, removed or changed in one place and not the other.

/// Calls back `$callback! { ARGS SystemStore { … } OrgStore { … } … TenantStore { … } }`
/// with every required method of the six port traits in `bulkhead_core::store`, grouped by trait,
/// in declaration order, each as
///
/// ```text
/// read fn get_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<Option<Workspace>>;
/// ```
///
/// (types written as `$crate` paths, `Uuid` as `::uuid::Uuid`). The first word says what the
/// call does to storage: `read` never writes; `write` may (that includes
/// `master_key_check`, `touch_org_key` and `workspace_data_key`, which store a value on first
/// use). The provided methods (`SystemStore::jobs` and `SystemStore::schedules`) are not
/// listed: a wrapper that does not override them hands out no job or schedule port. `ARGS`
/// are the tokens given after the callback's name, passed on first.
///
/// For store wrappers (testkit's `FaultyStore`, `LeakyStore`), which override a few methods
/// and forward the rest, so that a new port method is forwarded without being written out
/// again. A matcher for one method:
/// `$access:ident fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;`.
#[doc(hidden)]
#[macro_export]
macro_rules! store_methods {
    ($callback:ident $($args:tt)*) => {
        $callback! {
            $($args)*
            SystemStore {
                write fn master_key_check(&self, candidate: &[u8]) -> $crate::Result<Vec<u8>>;
                read fn get_organization(&self, id: $crate::OrgId)
                    -> $crate::Result<Option<$crate::Organization>>;
                read fn list_organizations(&self) -> $crate::Result<Vec<$crate::Organization>>;
                read fn find_org_key(&self, hash: &[u8; 32])
                    -> $crate::Result<Option<$crate::keys::OrgKeyRow>>;
                write fn touch_org_key(&self, id: $crate::OrgKeyId, now: $crate::Timestamp)
                    -> $crate::Result<()>;
                read fn find_signing_key(&self, kid: &str)
                    -> $crate::Result<Option<$crate::keys::SigningKeyRow>>;
                write fn reseal_all(
                    &self,
                    check: &[u8],
                    reseal: &mut dyn FnMut(
                        $crate::store::SealedItem<'_>,
                    ) -> $crate::Result<Vec<u8>>,
                ) -> $crate::Result<u64>;
            }
            OrgStore {
                write fn insert_organization(
                    &self,
                    ctx: &$crate::OrgCtx,
                    org: &$crate::Organization,
                    first_key: &$crate::keys::OrgKeyRow,
                    signing_key: &$crate::keys::SigningKeyRow,
                ) -> $crate::Result<()>;
                write fn update_org_settings(
                    &self,
                    org: &$crate::OrgCtx,
                    settings: &$crate::OrgSettings,
                ) -> $crate::Result<Option<$crate::Organization>>;
                write fn insert_org_key(&self, org: &$crate::OrgCtx, row: &$crate::keys::OrgKeyRow)
                    -> $crate::Result<()>;
                read fn list_org_keys(&self, org: &$crate::OrgCtx)
                    -> $crate::Result<Vec<$crate::keys::OrgKeyRow>>;
                write fn revoke_org_key(
                    &self,
                    org: &$crate::OrgCtx,
                    id: $crate::OrgKeyId,
                    now: $crate::Timestamp,
                ) -> $crate::Result<Option<$crate::keys::OrgKeyRow>>;
                write fn rotate_signing_key(
                    &self,
                    org: &$crate::OrgCtx,
                    new: &$crate::keys::SigningKeyRow,
                    retire_at: $crate::Timestamp,
                    now: $crate::Timestamp,
                ) -> $crate::Result<()>;
                write fn retire_signing_key(
                    &self,
                    org: &$crate::OrgCtx,
                    kid: &str,
                    at: $crate::Timestamp,
                ) -> $crate::Result<bool>;
                read fn list_signing_keys(&self, org: &$crate::OrgCtx)
                    -> $crate::Result<Vec<$crate::keys::SigningKeyRow>>;
            }
            WorkspaceStore {
                write fn get_or_create_workspace(
                    &self,
                    org: &$crate::OrgCtx,
                    candidate: &$crate::Workspace,
                    update: &$crate::WorkspaceUpdate,
                ) -> $crate::Result<$crate::GetOrCreated>;
                read fn get_workspace(&self, org: &$crate::OrgCtx, id: $crate::WorkspaceId)
                    -> $crate::Result<Option<$crate::Workspace>>;
                read fn find_workspace(
                    &self,
                    org: &$crate::OrgCtx,
                    external_id: &$crate::ExternalId,
                ) -> $crate::Result<Option<$crate::Workspace>>;
                read fn list_workspaces(
                    &self,
                    org: &$crate::OrgCtx,
                    filter: &$crate::WorkspaceFilter,
                    after: Option<&$crate::ExternalId>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::Workspace>>;
                read fn count_workspaces(&self, org: &$crate::OrgCtx)
                    -> $crate::Result<Vec<$crate::store::StatusCount>>;
                read fn count_workspace_creations(
                    &self,
                    org: &$crate::OrgCtx,
                    since: $crate::Timestamp,
                ) -> $crate::Result<Vec<$crate::store::CreationCount>>;
                write fn update_workspace(
                    &self,
                    org: &$crate::OrgCtx,
                    id: $crate::WorkspaceId,
                    update: &$crate::WorkspaceUpdate,
                    now: $crate::Timestamp,
                ) -> $crate::Result<Option<$crate::Workspace>>;
                write fn purge_workspace(&self, org: &$crate::OrgCtx, id: $crate::WorkspaceId)
                    -> $crate::Result<bool>;
                write fn delete_workspace(
                    &self,
                    org: &$crate::OrgCtx,
                    id: $crate::WorkspaceId,
                    at: $crate::Timestamp,
                    merged_into: Option<$crate::WorkspaceId>,
                ) -> $crate::Result<Option<$crate::Workspace>>;
                write fn merge_workspace(
                    &self,
                    org: &$crate::OrgCtx,
                    from: &$crate::Tenant,
                    into: &$crate::Tenant,
                    rows: &$crate::store::MergeRows,
                    at: $crate::Timestamp,
                ) -> $crate::Result<bool>;
                read fn list_deleted_workspaces(
                    &self,
                    org: &$crate::OrgCtx,
                    before: $crate::Timestamp,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::Workspace>>;
                write fn revoke_workspace_tokens(
                    &self,
                    org: &$crate::OrgCtx,
                    id: $crate::WorkspaceId,
                    at: $crate::Timestamp,
                ) -> $crate::Result<Option<$crate::Workspace>>;
            }
            CatalogStore {
                write fn create_tag(
                    &self,
                    org: &$crate::OrgCtx,
                    name: &$crate::Tag,
                    now: $crate::Timestamp,
                ) -> $crate::Result<$crate::TagInfo>;
                read fn list_tags(&self, org: &$crate::OrgCtx)
                    -> $crate::Result<Vec<$crate::TagInfo>>;
                write fn rename_tag(
                    &self,
                    org: &$crate::OrgCtx,
                    from: &$crate::Tag,
                    to: &$crate::Tag,
                ) -> $crate::Result<bool>;
                write fn delete_tag(&self, org: &$crate::OrgCtx, name: &$crate::Tag)
                    -> $crate::Result<bool>;
                write fn insert_template(
                    &self,
                    org: &$crate::OrgCtx,
                    row: &$crate::store::TemplateRow,
                ) -> $crate::Result<()>;
                read fn list_templates(
                    &self,
                    org: &$crate::OrgCtx,
                    kind: $crate::store::TemplateKind,
                ) -> $crate::Result<Vec<$crate::store::TemplateRow>>;
                read fn get_template(
                    &self,
                    org: &$crate::OrgCtx,
                    kind: $crate::store::TemplateKind,
                    id: ::uuid::Uuid,
                ) -> $crate::Result<Option<$crate::store::TemplateRow>>;
                write fn replace_template(
                    &self,
                    org: &$crate::OrgCtx,
                    row: &$crate::store::TemplateRow,
                ) -> $crate::Result<bool>;
                write fn delete_template(
                    &self,
                    org: &$crate::OrgCtx,
                    kind: $crate::store::TemplateKind,
                    id: ::uuid::Uuid,
                ) -> $crate::Result<bool>;
            }
            AuditStore {
                write fn append_audit(
                    &self,
                    org: &$crate::OrgCtx,
                    draft: &$crate::audit::AuditDraft,
                ) -> $crate::Result<$crate::audit::AuditEvent>;
                read fn list_audit(
                    &self,
                    org: &$crate::OrgCtx,
                    filter: &$crate::audit::AuditFilter,
                    after: Option<u64>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::audit::AuditEvent>>;
                read fn list_audit_newest(
                    &self,
                    org: &$crate::OrgCtx,
                    filter: &$crate::audit::AuditFilter,
                    before: Option<u64>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::audit::AuditEvent>>;
            }
            TenantStore {
                read fn load_workspace(&self, tenant: &$crate::Tenant)
                    -> $crate::Result<Option<$crate::Workspace>>;
                read fn load_token_state(&self, tenant: &$crate::Tenant, jti: &str, kid: &str)
                    -> $crate::Result<Option<$crate::store::TokenState>>;
                write fn revoke_token(
                    &self,
                    tenant: &$crate::Tenant,
                    jti: &str,
                    expires_at: $crate::Timestamp,
                    now: $crate::Timestamp,
                ) -> $crate::Result<()>;
                write fn workspace_data_key(
                    &self,
                    tenant: &$crate::Tenant,
                    make: &dyn Fn() -> $crate::Result<Vec<u8>>,
                ) -> $crate::Result<Option<Vec<u8>>>;
                write fn insert_source_with_pipelines(
                    &self,
                    tenant: &$crate::Tenant,
                    source: &$crate::store::EndpointRow,
                    pipelines: &[$crate::store::Pipeline],
                    check: &dyn Fn(&[$crate::store::Pipeline]) -> $crate::Result<()>,
                ) -> $crate::Result<Vec<$crate::store::Pipeline>>;
                write fn insert_endpoint(
                    &self,
                    tenant: &$crate::Tenant,
                    row: &$crate::store::EndpointRow,
                ) -> $crate::Result<()>;
                read fn get_endpoint(
                    &self,
                    tenant: &$crate::Tenant,
                    kind: $crate::store::EndpointKind,
                    id: ::uuid::Uuid,
                ) -> $crate::Result<Option<$crate::store::EndpointRow>>;
                read fn list_endpoints(
                    &self,
                    tenant: &$crate::Tenant,
                    kind: $crate::store::EndpointKind,
                    after: Option<$crate::store::Keyset>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::store::EndpointRow<()>>>;
                read fn list_sealed_endpoints(
                    &self,
                    tenant: &$crate::Tenant,
                    kind: $crate::store::EndpointKind,
                    after: Option<$crate::store::Keyset>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::store::EndpointRow>>;
                write fn update_endpoint(
                    &self,
                    tenant: &$crate::Tenant,
                    kind: $crate::store::EndpointKind,
                    id: ::uuid::Uuid,
                    patch: &$crate::store::EndpointPatch,
                    now: $crate::Timestamp,
                ) -> $crate::Result<Option<$crate::store::EndpointRow>>;
                write fn delete_endpoint(
                    &self,
                    tenant: &$crate::Tenant,
                    kind: $crate::store::EndpointKind,
                    id: ::uuid::Uuid,
                ) -> $crate::Result<bool>;
                write fn insert_connection(&self, tenant: &$crate::Tenant, row: &$crate::Connection)
                    -> $crate::Result<()>;
                read fn get_connection(&self, tenant: &$crate::Tenant, id: $crate::ConnectionId)
                    -> $crate::Result<Option<$crate::Connection>>;
                read fn list_connections(
                    &self,
                    tenant: &$crate::Tenant,
                    after: Option<$crate::store::Keyset>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::Connection>>;
                write fn update_connection(
                    &self,
                    tenant: &$crate::Tenant,
                    id: $crate::ConnectionId,
                    update: &$crate::ConnectionUpdate,
                    now: $crate::Timestamp,
                ) -> $crate::Result<Option<$crate::Connection>>;
                write fn delete_connection(&self, tenant: &$crate::Tenant, id: $crate::ConnectionId)
                    -> $crate::Result<bool>;
                write fn insert_sync_run(&self, tenant: &$crate::Tenant, row: &$crate::SyncRun)
                    -> $crate::Result<()>;
                read fn get_sync_run(&self, tenant: &$crate::Tenant, id: $crate::SyncRunId)
                    -> $crate::Result<Option<$crate::SyncRun>>;
                read fn list_sync_runs(
                    &self,
                    tenant: &$crate::Tenant,
                    connection: $crate::ConnectionId,
                    before: Option<$crate::store::Keyset>,
                    limit: usize,
                ) -> $crate::Result<Vec<$crate::SyncRun>>;
                read fn workspace_activity(&self, tenant: &$crate::Tenant, since: $crate::Timestamp)
                    -> $crate::Result<$crate::store::WorkspaceActivity>;
                write fn finish_sync_run(
                    &self,
                    tenant: &$crate::Tenant,
                    id: $crate::SyncRunId,
                    finish: &$crate::store::SyncFinish,
                ) -> $crate::Result<Option<$crate::SyncRun>>;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// A store that forwards every listed method: it compiles only while the list has every
    /// required method of the six traits, and each with its declared signature.
    #[derive(Debug)]
    #[expect(
        dead_code,
        reason = "only compiled: the compiler checks the list against the traits"
    )]
    struct Forward<S>(S);

    macro_rules! forward {
        ($(
            $port:ident {$(
                $access:ident fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*}
        )*) => {
            $(
                impl<S: crate::port::store::Store> crate::port::store::$port for Forward<S> {$(
                    fn $name(&self $(, $arg: $ty)*) -> $ret {
                        crate::port::store::$port::$name(&self.0 $(, $arg)*)
                    }
                )*}
            )*

            /// (trait, access, method) for every listed method.
            const LISTED: &[(&str, &str, &str)] = &[
                $($((stringify!($port), stringify!($access), stringify!($name)),)*)*
            ];
        };
    }

    crate::store_methods!(forward);

    #[test]
    fn every_method_is_listed_once_as_a_read_or_a_write() {
        let names: BTreeSet<&str> = LISTED.iter().map(|(_, _, name)| *name).collect();
        assert_eq!(names.len(), LISTED.len(), "a method listed twice");
        for (port, access, name) in LISTED {
            assert!(
                *access == "read" || *access == "write",
                "{port}::{name} is tagged `{access}`, not `read` or `write`"
            );
        }
    }
}
