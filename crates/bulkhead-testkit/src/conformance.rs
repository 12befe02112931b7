//! The adapter conformance suite: the storage contract of `bulkhead_core::store`, checked end
//! to end through the [`Engine`](bulkhead_core::Engine).
//!
//! Every test is a plain function `fn(factory: &dyn Fn() -> Harness)`, named for the property
//! it proves; an adapter runs them all with [`conformance_tests!`](crate::conformance_tests)
//! (and the fault sweeps with [`fault_injection_tests!`](crate::fault_injection_tests)):
//!
//! ```no_run
//! use std::sync::Arc;
//! use bulkhead_testkit::conformance::Harness;
//! # fn open_my_store() -> Arc<dyn bulkhead_core::Store> { unimplemented!() }
//!
//! /// A fresh, empty store of the adapter for each test.
//! fn harness() -> Harness {
//!     Harness::new(open_my_store())
//! }
//!
//! bulkhead_testkit::conformance_tests!(harness);
//! ```
//!
//! A [`Harness`] is an engine over the adapter's store with a manual clock, plus what the
//! adapter can offer besides: a `dump` of every stored tenant row, read around the engine
//! (without it, the checks that compare tenant views with the whole store are skipped, and say
//! so on stderr); a way to close and reopen the store; a [`Faults`](crate::wrappers::Faults)
//! switch when the store is a [`FaultyStore`](crate::wrappers::FaultyStore); and whether the
//! store deliberately leaks (a [`LeakyStore`](crate::wrappers::LeakyStore)), with the switch of
//! its organization-level leaks (templates, keys, audit events), which one test turns on. Over a
//! leaky store, a call that meets a foreign row may fail with [`Error::IsolationBreach`] instead
//! of answering; the suite then accepts that refusal where it expected an answer or not-found,
//! counts it, and checks the count against
//! [`Engine::isolation_breaches`](bulkhead_core::Engine::isolation_breaches) when the harness is
//! dropped. It never accepts a foreign row.
//!
//! **Fault injection.** [`fault_injection_tests!`](crate::fault_injection_tests) sweeps N over
//! every write call of the operations that write several rows: a source from a template with
//! matching connection templates (source, destinations, connections), deleting a workspace, a
//! scoped-token request that creates or retags a workspace, rotating the master key. For each
//! N, on a fresh store, the operation fails with the injected fault, nothing it did is left
//! (the dump and the tenant views are as before), and the same operation then succeeds. The
//! [`FaultyStore`](crate::wrappers::FaultyStore) fails whole store calls, and the SQLite store
//! makes each of these operations' rows in one call, one transaction (a source with its
//! destinations and connections, a workspace with everything in it); so the sweep covers every
//! store write call the engine makes during the operation (for a source from a template: the
//! workspace's data key, then the source with its pipelines) and proves the engine leaves no
//! half-done state across calls. Atomicity inside one call is the adapter's to prove (the
//! `bulkhead` crate's `tests/it/faults.rs` aborts SQLite statements halfway through a
//! transaction).
//!
//! **Where the tests are.** One file per concern under `conformance/` (organizations and org
//! keys, workspaces and tokens, objects, templates, pagination, isolation, durability, the
//! audit log, merging, the dashboard, sync runs, faults, the minter, the security review's
//! hardening); this root holds the fixtures they share and the two run lists. A new test is a
//! `pub fn name(factory: &dyn Fn() -> Harness)` in its concern's file plus its name on one of
//! the lists, [`conformance_tests!`](crate::conformance_tests) or
//! [`fault_injection_tests!`](crate::fault_injection_tests): the unit test
//! `every_property_is_on_exactly_one_run_list` fails when a property is on neither.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bulkhead_core::{
    AuditEvent, AuditFilter, ConfigSpec, Connection, ConnectionId, ConnectionTemplate,
    ConnectorConfig, Destination, DestinationId, Error, ExternalId, IssuedToken, NewConnection,
    NewConnectionTemplate, NewDestination, NewSource, NewSourceFromTemplate, NewSourceTemplate,
    OrgId, OrgKeySecret, OrgScope, Page, Paged, Result, Schedule, ScopedTokenRequest, Source,
    SourceId, SourceTemplate, SyncRun, SyncRunId, Tag, TagMode, TagSelection, TokenRejection,
    Workspace, WorkspaceFilter, WorkspaceId, WorkspaceScope,
};

mod audit;
mod dashboard;
mod durability;
mod faults;
mod hardening;
mod harness;
mod isolation;
mod merging;
mod minter;
mod objects;
mod org_keys;
mod pagination;
mod sync_runs;
mod template_secrets;
mod templates;
mod worker_keys;
mod workspaces;

pub use audit::*;
pub use dashboard::*;
pub use durability::*;
pub use faults::*;
pub use hardening::*;
pub use harness::*;
pub use isolation::*;
pub use merging::*;
pub use minter::*;
pub use objects::*;
pub use org_keys::*;
pub use pagination::*;
pub use sync_runs::*;
pub use template_secrets::template_secrets_never_reach_a_customer_in_clear;
pub use templates::*;
pub use worker_keys::*;
pub use workspaces::*;

/// An external id from text.
pub fn ext(text: &str) -> ExternalId {
    text.parse().unwrap()
}

/// A tag selection matching any of `tags`.
pub fn any_of(tags: &[&str]) -> TagSelection {
    TagSelection::parse(tags.iter().copied(), TagMode::Any).unwrap()
}

/// A new organization named `name`, logged in with its first key.
pub fn new_org(h: &Harness, name: &str) -> (OrgScope, OrgKeySecret) {
    let (_, key) = h.engine().create_organization(name).unwrap();
    (h.engine().authenticate_org(key.expose()).unwrap(), key)
}

/// The templates every fixture organization has: two source templates and two connection
/// templates, selected by the tags `production` and `premium`.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Source template `stripe`, tagged `production`; its spec marks `api_key` secret.
    pub stripe: SourceTemplate,
    /// Source template `hubspot`, tagged `premium`.
    pub hubspot: SourceTemplate,
    /// Connection template to `s3`, tagged `production`.
    pub s3: ConnectionTemplate,
    /// Connection template to `warehouse`, tagged `production` and `premium`.
    pub warehouse: ConnectionTemplate,
}

impl Catalog {
    /// The source templates, in creation order.
    pub fn source_templates(&self) -> [&SourceTemplate; 2] {
        [&self.stripe, &self.hubspot]
    }

    /// The connection templates, in creation order.
    pub fn connection_templates(&self) -> [&ConnectionTemplate; 2] {
        [&self.s3, &self.warehouse]
    }
}

fn tag(name: &str) -> Tag {
    name.parse().unwrap()
}

/// Creates the fixture catalog in `org` (the clock moves a second between templates, so they
/// list in creation order).
pub fn install_catalog(h: &Harness, org: &OrgScope) -> Catalog {
    for name in ["production", "premium"] {
        org.create_tag(&tag(name)).unwrap();
    }
    let spec = ConfigSpec::from_json(
        r#"{"type": "object", "required": ["account_id", "api_key"],
            "properties": {"account_id": {"type": "string"},
                           "api_key": {"type": "string", "airbyte_secret": true},
                           "start_date": {"type": "string"}}}"#,
    )
    .unwrap();
    let source_template = |name: &str, connector: &str, tag_name: &str| {
        h.tick();
        org.create_source_template(NewSourceTemplate {
            name: name.parse().unwrap(),
            connector: connector.parse().unwrap(),
            default_config: ConnectorConfig::from_json(r#"{"start_date": "2024-01-01"}"#).unwrap(),
            spec: spec.clone(),
            tags: [tag(tag_name)].into(),
        })
        .unwrap()
    };
    let stripe = source_template("Stripe", "stripe", "production");
    let hubspot = source_template("HubSpot", "hubspot", "premium");
    let connection_template = |name: &str, connector: &str, tags: &[&str]| {
        h.tick();
        org.create_connection_template(NewConnectionTemplate {
            name: name.parse().unwrap(),
            destination_name: format!("{name} destination").parse().unwrap(),
            destination_connector: connector.parse().unwrap(),
            destination_config: ConnectorConfig::from_json(r#"{"bucket": "exports"}"#).unwrap(),
            destination_spec: ConfigSpec::empty(),
            schedule: Schedule::Cron("0 * * * *".parse().unwrap()),
            tags: tags.iter().map(|t| tag(t)).collect(),
        })
        .unwrap()
    };
    let s3 = connection_template("To S3", "s3", &["production"]);
    let warehouse = connection_template("To warehouse", "warehouse", &["production", "premium"]);
    h.tick();
    Catalog {
        stripe,
        hubspot,
        s3,
        warehouse,
    }
}

/// A customer's configuration for a source from the fixture templates, with a secret.
pub fn template_config(account: &str) -> ConnectorConfig {
    ConnectorConfig::new(serde_json::json!({
        "account_id": account,
        "api_key": format!("sk_live_{account}"),
    }))
    .unwrap()
}

/// A request for a source from `template`.
pub fn from_template(template: &SourceTemplate, name: &str) -> NewSourceFromTemplate {
    NewSourceFromTemplate {
        template_id: template.id,
        name: name.parse().unwrap(),
        config: template_config(name),
    }
}

/// A raw source (organization access only).
pub fn raw_source(name: &str) -> NewSource {
    NewSource {
        name: name.parse().unwrap(),
        connector: "postgres".parse().unwrap(),
        config: ConnectorConfig::new(serde_json::json!({ "database": name })).unwrap(),
    }
}

/// A raw destination (organization access only).
pub fn raw_destination(name: &str) -> NewDestination {
    NewDestination {
        name: name.parse().unwrap(),
        connector: "bigquery".parse().unwrap(),
        config: ConnectorConfig::new(serde_json::json!({ "dataset": name })).unwrap(),
    }
}

/// A manual connection from `source` to `destination`.
pub fn new_connection(name: &str, source: SourceId, destination: DestinationId) -> NewConnection {
    NewConnection {
        name: name.parse().unwrap(),
        source_id: source,
        destination_id: destination,
        schedule: Schedule::Manual,
    }
}

/// The organization's scope of the workspace for `external_id`, created if needed.
pub fn workspace(org: &OrgScope, external_id: &str) -> WorkspaceScope {
    let ws = org.get_or_create_workspace(&ext(external_id)).unwrap();
    org.workspace(ws.workspace.id).unwrap()
}

/// A scoped token for `external_id` (default operations), and the scope it authenticates to.
pub fn token_scope(
    h: &Harness,
    org: &OrgScope,
    external_id: &str,
) -> (IssuedToken, WorkspaceScope) {
    let issued = org
        .scoped_token(&ScopedTokenRequest::new(ext(external_id)))
        .unwrap();
    let scope = h.engine().authenticate(issued.token.expose()).unwrap();
    (issued, scope)
}

/// A raw source, a raw destination and a connection between them, made in `ws` (an
/// organization's scope).
pub fn pipeline(ws: &WorkspaceScope, name: &str) -> (Source, Destination, Connection) {
    let source = ws.create_source(raw_source(name)).unwrap();
    let destination = ws.create_destination(raw_destination(name)).unwrap();
    let connection = ws
        .create_connection(new_connection(name, source.id, destination.id))
        .unwrap();
    (source, destination, connection)
}

/// Every item of a listing, page by page with `limit`, checking the pages: none larger than
/// the limit, every page before the last full, a cursor exactly when more items follow.
pub fn all_pages<T>(
    limit: u32,
    mut fetch: impl FnMut(&Page) -> Result<Paged<T>>,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut page = Page::first(limit);
    for _ in 0..100_000 {
        let got = fetch(&page)?;
        let n = got.items.len();
        assert!(
            n <= limit as usize,
            "a page of limit {limit} holds {n} items"
        );
        items.extend(got.items);
        match got.next {
            Some(cursor) => {
                assert_eq!(n, limit as usize, "a page before the last is not full");
                page = Page::after(cursor, limit);
            }
            None => return Ok(items),
        }
    }
    panic!("a listing did not end after 100000 pages")
}

/// Everything one workspace sees, every list read to its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// Its sources, oldest first.
    pub sources: Vec<Source>,
    /// Its destinations, oldest first.
    pub destinations: Vec<Destination>,
    /// Its connections, oldest first.
    pub connections: Vec<Connection>,
    /// The sync runs of each of its connections, newest first.
    pub sync_runs: BTreeMap<ConnectionId, Vec<SyncRun>>,
}

impl View {
    /// Reads the view of `ws` (which needs every read operation) in pages of `limit`.
    pub fn read(ws: &WorkspaceScope, limit: u32) -> Result<Self> {
        let sources = all_pages(limit, |p| ws.list_sources(p))?;
        let destinations = all_pages(limit, |p| ws.list_destinations(p))?;
        let connections = all_pages(limit, |p| ws.list_connections(p))?;
        let mut sync_runs = BTreeMap::new();
        for c in &connections {
            sync_runs.insert(c.id, all_pages(limit, |p| ws.list_sync_runs(c.id, p))?);
        }
        Ok(Self {
            sources,
            destinations,
            connections,
            sync_runs,
        })
    }

    /// The rows of everything in the view.
    pub fn rows(&self) -> BTreeSet<StoredRow> {
        let mut rows = BTreeSet::new();
        rows.extend(self.sources.iter().map(TenantObject::stored_row));
        rows.extend(self.destinations.iter().map(TenantObject::stored_row));
        rows.extend(self.connections.iter().map(TenantObject::stored_row));
        rows.extend(
            self.sync_runs
                .values()
                .flatten()
                .map(TenantObject::stored_row),
        );
        rows
    }

    /// Asserts every row in the view belongs to `ws`'s workspace and organization, and no id
    /// appears twice.
    #[track_caller]
    pub fn assert_own(&self, org: OrgId, ws: WorkspaceId) {
        let rows = self.rows();
        let count = self.sources.len()
            + self.destinations.len()
            + self.connections.len()
            + self.sync_runs.values().map(Vec::len).sum::<usize>();
        assert_eq!(rows.len(), count, "an id appears twice in a listing");
        for row in rows {
            assert_eq!(
                (row.org_id, row.workspace_id),
                (org, ws),
                "a listing of workspace {ws} holds a foreign row {row:?}"
            );
        }
    }
}

impl View {
    /// The view of `ws` read object by object: each row the dump holds in its workspace, looked
    /// up by id through `ws` (so it must be found, and be that row), in list order. `None`
    /// without a dump, or where a lookup was refused (counted).
    pub fn look_up(h: &Harness, ws: &WorkspaceScope) -> Option<Self> {
        let rows = h.stored()?;
        let mut view = Self::default();
        let mut runs = Vec::new();
        let own = rows
            .into_iter()
            .filter(|r| r.org_id == ws.org_id() && r.workspace_id == ws.workspace_id());
        for row in own {
            match row.kind {
                RowKind::Workspace => continue,
                RowKind::Source => view
                    .sources
                    .push(h.answer(SourceId::from_uuid(row.id).and_then(|id| ws.get_source(id)))?),
                RowKind::Destination => view.destinations.push(h.answer(
                    DestinationId::from_uuid(row.id).and_then(|id| ws.get_destination(id)),
                )?),
                RowKind::Connection => view.connections.push(h.answer(
                    ConnectionId::from_uuid(row.id).and_then(|id| ws.get_connection(id)),
                )?),
                RowKind::SyncRun => runs.push(
                    h.answer(SyncRunId::from_uuid(row.id).and_then(|id| ws.get_sync_run(id)))?,
                ),
            }
        }
        let found: BTreeSet<StoredRow> = view
            .rows()
            .into_iter()
            .chain(runs.iter().map(TenantObject::stored_row))
            .collect();
        let wanted: BTreeSet<StoredRow> = h
            .stored()?
            .into_iter()
            .filter(|r| r.workspace_id == ws.workspace_id() && r.kind != RowKind::Workspace)
            .collect();
        assert_eq!(found, wanted, "a lookup by id answered with another row");
        view.sources
            .sort_by_key(|s| (s.created_at, *s.id.as_uuid()));
        view.destinations
            .sort_by_key(|d| (d.created_at, *d.id.as_uuid()));
        view.connections
            .sort_by_key(|c| (c.created_at, *c.id.as_uuid()));
        for c in &view.connections {
            view.sync_runs.insert(c.id, Vec::new());
        }
        runs.sort_by_key(|r| std::cmp::Reverse((r.started_at, *r.id.as_uuid())));
        for run in runs {
            view.sync_runs
                .entry(run.connection_id)
                .or_default()
                .push(run);
        }
        Some(view)
    }
}

/// Reads `ws`'s view, every listing to its end. Where a leaky store made the guard refuse a
/// listing (counted), the view is read object by object instead ([`View::look_up`]); `None`
/// only where that is not possible either (no dump).
pub fn view_of(h: &Harness, ws: &WorkspaceScope, limit: u32) -> Option<View> {
    let view = match h.answer(View::read(ws, limit)) {
        Some(view) => view,
        None => View::look_up(h, ws)?,
    };
    view.assert_own(ws.org_id(), ws.workspace_id());
    Some(view)
}

/// Every workspace of the organization, in pages of `limit`.
pub fn all_workspaces(org: &OrgScope, limit: u32) -> Result<Vec<Workspace>> {
    all_pages(limit, |p| {
        org.list_workspaces(&WorkspaceFilter::default(), p)
    })
}

#[track_caller]
fn assert_denied<T: fmt::Debug>(result: Result<T>) {
    assert!(
        matches!(result, Err(Error::PermissionDenied { .. })),
        "expected permission denied, got {result:?}"
    );
}

#[track_caller]
fn assert_conflict<T: fmt::Debug>(result: Result<T>) {
    assert!(
        matches!(result, Err(Error::Conflict { .. })),
        "expected a conflict, got {result:?}"
    );
}

#[track_caller]
fn assert_token_rejected<T: fmt::Debug>(result: Result<T>, reason: TokenRejection) {
    match result {
        Err(Error::InvalidToken { reason: got, .. }) if got == reason => {}
        other => panic!("expected an invalid token ({reason:?}), got {other:?}"),
    }
}

fn skipped(test: &str, what: &str) {
    eprintln!("{test}: skipped, the harness has no {what}");
}

/// The `kid` in the header of `token`.
fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Every event of the organization's audit chain, oldest first.
pub fn all_audit(org: &OrgScope) -> Vec<AuditEvent> {
    all_pages(100, |p| org.audit_events(&AuditFilter::default(), p)).unwrap()
}

fn actions(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.draft.action.as_str()).collect()
}

/// Expands to one `#[test]` per conformance test, each calling it with `$factory` (an
/// expression usable as `&dyn Fn() -> Harness` once borrowed, such as a function's name).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            org_key_opens_its_own_organization,
            wrong_revoked_and_expired_org_keys_are_refused,
            another_organizations_org_key_is_not_found,
            a_worker_key_is_listed_with_its_role_and_its_creation_audited,
            a_worker_key_and_an_org_key_each_make_a_worker_of_their_organization,
            a_worker_key_opens_no_organization_scope,
            a_worker_key_is_no_scoped_token,
            a_revoked_or_expired_worker_key_is_refused_and_its_worker_stops,
            a_worker_key_expiring_in_the_past_is_invalid_input,
            a_worker_keys_role_is_stored_for_every_process,
            workspace_creations_are_counted_by_hour_within_the_organization,
            latest_audit_events_are_the_chain_backwards_within_the_organization,
            scoped_token_gets_or_creates_one_workspace_per_external_id,
            external_ids_are_per_organization_and_case_sensitive,
            scoped_token_request_stores_the_tag_selection,
            scoped_token_reaches_its_own_workspace_only,
            expired_scoped_token_is_refused_and_a_new_one_works,
            revoked_scoped_token_is_refused_and_the_others_still_work,
            revoking_all_tokens_refuses_the_earlier_ones_only,
            another_organizations_tokens_cannot_be_revoked,
            kid_that_no_engine_makes_is_an_unknown_key,
            token_of_a_deleted_workspace_is_refused,
            inactive_workspace_refuses_its_tokens,
            inactive_workspace_pauses_its_connections_and_resumes_them,
            purging_deleted_workspaces_respects_the_retention,
            merging_a_duplicate_moves_everything_into_the_target,
            merging_is_refused_within_one_workspace_deleted_ones_and_other_organizations,
            merging_into_an_inactive_workspace_pauses_the_moved_connections,
            merging_from_an_inactive_workspace_resumes_the_connections_it_paused,
            workspaces_list_in_pages_by_external_id,
            workspaces_filter_by_name_contains_ignoring_ascii_case,
            foreign_workspace_id_is_not_found_by_another_organization,
            source_create_read_update_delete,
            destination_create_read_update_delete,
            connection_create_read_update_delete,
            connection_to_a_foreign_source_or_destination_is_not_found,
            endpoint_used_by_a_connection_cannot_be_deleted,
            sync_run_starts_and_finishes_once,
            deleting_a_connection_deletes_its_sync_runs,
            a_second_start_while_a_run_is_running_is_refused,
            overview_counts_the_last_seven_days_and_recent_runs_span_connections,
            concurrent_starts_of_one_connection_let_exactly_one_win,
            new_sync_runs_carry_job_numbers_that_find_them_in_their_workspace_only,
            scoped_token_is_limited_to_its_operations,
            workspace_sees_only_the_templates_its_tags_select,
            source_from_template_makes_destinations_once_and_connections_each_time,
            template_not_selected_or_of_another_organization_is_not_available,
            secrets_are_masked_and_revealed_only_to_the_organization,
            master_key_rotation_keeps_every_secret_readable,
            lists_walk_every_page_without_gaps_or_duplicates,
            page_limit_outside_1_to_100_is_invalid_input,
            cursor_of_another_workspace_never_widens_a_listing,
            foreign_ids_are_not_found_for_every_kind_and_operation,
            random_ids_are_not_found,
            lists_hold_exactly_the_workspaces_own_rows,
            union_of_tenant_views_is_everything_stored,
            deleting_then_purging_a_workspace_removes_its_rows_and_no_others,
            data_survives_close_and_reopen,
            every_change_is_audited_in_a_chain_that_verifies,
            denied_calls_are_audited,
            isolation_breaches_are_audited_in_the_callers_chain,
            organization_rows_of_another_organization_are_refused,
            audit_events_filter_page_and_hold_no_secret,
            template_secrets_never_reach_a_customer_in_clear,
            replayed_refused_tokens_are_audited_once_a_minute,
            refusals_of_different_kinds_are_each_audited,
            retiring_a_signing_key_refuses_its_tokens_in_every_process,
            retiring_a_rotated_out_key_keeps_the_signer,
            a_token_living_longer_than_its_organization_allows_is_refused,
            a_scope_from_a_token_stops_with_its_token,
            an_org_scope_stops_with_its_org_key,
            a_revocation_in_another_process_reaches_a_scope_within_a_minute,
            reveals_and_token_issuance_are_audited,
            concurrent_token_issuances_are_each_audited_and_the_chains_verify,
            a_breach_in_a_customers_template_read_names_the_token,
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name(&$factory)
            }
        )*
    };
}

/// Expands to one `#[test]` per fault-injection test, each calling it with `$factory`, whose
/// harnesses must carry [`Faults`](crate::wrappers::Faults) (a `FaultyStore`).
#[macro_export]
macro_rules! fault_injection_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            fault_at_any_write_of_a_source_from_template_stores_nothing,
            fault_at_any_write_of_deleting_a_workspace_keeps_it_whole,
            fault_at_any_write_of_purging_a_workspace_keeps_it_whole,
            fault_at_any_write_of_a_merge_changes_nothing,
            fault_at_any_write_of_a_scoped_token_request_with_tags_changes_nothing,
            fault_at_any_write_of_rotating_the_master_key_keeps_the_old_key,
            a_minter_makes_no_store_call_per_token_until_something_changes,
            panics_inside_store_calls_leave_the_engine_serving,
        );
    };
}

#[cfg(test)]
mod tests;
