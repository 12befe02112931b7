//! Shared fixtures for the benches: a database with one organization and a workspace holding
//! a known number of sources.

use bulkhead::{
    Config, ConnectorConfig, Engine, MasterKey, NewSource, Result, SourceId, WorkspaceId,
    WorkspaceScope,
};
use std::path::Path;

/// An engine on a fresh file with one workspace of `sources` sources, and a neighbour
/// workspace with as many, so the tenant filter has rows to exclude.
pub struct Fixture {
    /// The engine.
    pub engine: Engine,
    /// The measured workspace.
    pub scope: WorkspaceScope,
    /// Its id, for hand-written baselines.
    pub workspace_id: WorkspaceId,
    /// Its sources, oldest first.
    pub sources: Vec<SourceId>,
}

/// Builds a [`Fixture`] in the database file `path`.
pub fn fixture(path: &Path, sources: usize) -> Result<Fixture> {
    let engine = Engine::open(
        path,
        Config::default().with_master_key(MasterKey::generate()?),
    )?;
    let (_, key) = engine.create_organization("Bench")?;
    let admin = engine.authenticate_org(key.expose())?;
    let mut measured = None;
    for customer in ["bench-neighbour", "bench-customer"] {
        let ws = admin.get_or_create_workspace(&customer.parse()?)?.workspace;
        let scope = admin.workspace(ws.id)?;
        let mut ids = Vec::with_capacity(sources);
        for n in 0..sources {
            let source = scope.create_source(NewSource {
                name: format!("Source {n}").parse()?,
                connector: "stripe".parse()?,
                config: ConnectorConfig::from_json(
                    r#"{"account_id":"acct_123","start_date":"2024-01-01"}"#,
                )?,
            })?;
            ids.push(source.id);
        }
        measured = Some((scope, ws.id, ids));
    }
    let (scope, workspace_id, sources) = measured
        .ok_or_else(|| bulkhead::Error::invalid_input("sources", "fixture built no workspace"))?;
    Ok(Fixture {
        engine,
        scope,
        workspace_id,
        sources,
    })
}
