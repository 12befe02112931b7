//! `bulkhead org create` and `bulkhead org list`.

use std::path::Path;

use bulkhead::Organization;
use serde::Serialize;

use crate::args::OrgCommand;
use crate::error::CliError;
use crate::{db, output};

#[derive(Serialize)]
struct OrganizationList {
    organizations: Vec<Organization>,
}

pub(crate) fn run(path: &Path, command: OrgCommand, json: bool) -> Result<(), CliError> {
    let engine = db::open(path)?;
    match command {
        OrgCommand::Create { name } => {
            let org = engine.create_organization(&name)?;
            if json {
                return output::json(&org);
            }
            // The id alone on stdout, so `ORG=$(bulkhead org create Acme)` works.
            output::lines([org.id.to_string()])?;
            output::note(&format!(
                "created organization `{}`; use it with --org {} or BULKHEAD_ORG={}",
                org.name, org.id, org.id
            ));
            Ok(())
        }
        OrgCommand::List => {
            let organizations = engine.organizations()?;
            if json {
                return output::json(&OrganizationList { organizations });
            }
            if organizations.is_empty() {
                return output::lines([
                    "no organizations yet; create one with `bulkhead org create NAME`".to_owned(),
                ]);
            }
            let rows: Vec<Vec<String>> = organizations
                .iter()
                .map(|o| {
                    vec![
                        o.id.to_string(),
                        o.created_at.to_string(),
                        o.name.to_string(),
                    ]
                })
                .collect();
            output::lines(output::table(&["ORG ID", "CREATED", "NAME"], &rows))
        }
    }
}
