//! Every route of the router, one line each: the property and isolation tests walk this
//! table, so a new route is tested by adding its line here, and `http_property.rs` checks the
//! table against the OpenAPI document in both directions.

/// The credential a route takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// None (health, client credentials in the body).
    None,
    /// An org key or an access token.
    Org,
    /// A scoped token.
    Scoped,
    /// Any of the three; a scoped token reaches only its own workspace.
    Any,
    /// A worker key, an org key or an access token: the worker protocol, the only routes a
    /// worker key reaches.
    Worker,
}

/// The kind of object the `{id}` of a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Object {
    /// The path has no id.
    None,
    Workspace,
    Source,
    Destination,
    Connection,
    /// A v1 job (a sync run): an integer id, per workspace.
    Job,
    /// An organization's source template.
    SourceTemplate,
    /// An organization's connection template.
    ConnectionTemplate,
    /// An organization's tag: its id is its name.
    Tag,
    /// An organization's access key.
    OrgKey,
    /// An organization's signing key: its id is its `kid`.
    SigningKey,
}

impl Object {
    /// Whether objects of this kind belong to an organization rather than a workspace.
    pub(crate) fn org_level(self) -> bool {
        matches!(
            self,
            Self::SourceTemplate
                | Self::ConnectionTemplate
                | Self::Tag
                | Self::OrgKey
                | Self::SigningKey
        )
    }
}

/// One method on one path. `{id}` stands for the path's id, `{tag}` for a tag name a
/// template carries (the template tag routes name both).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) auth: Auth,
    pub(crate) object: Object,
}

const fn r(method: &'static str, path: &'static str, auth: Auth, object: Object) -> Route {
    Route {
        method,
        path,
        auth,
        object,
    }
}

use Auth as A;
use Object as O;

/// A path of the organization's template and tag management.
macro_rules! t {
    ($rest:literal) => {
        concat!("/api/v1/integrations/templates", $rest)
    };
}

/// Routes outside the Airbyte public API v1 prefixes.
pub(crate) const ROUTES: &[Route] = &[
    r("POST", "/api/v1/embedded/scoped-token", A::Org, O::None),
    r("POST", "/api/v1/embedded/widget-token", A::Org, O::None),
    r(
        "GET",
        "/api/v1/embedded/scoped-token/info",
        A::Scoped,
        O::None,
    ),
    r(
        "GET",
        "/api/v1/embedded/source-templates",
        A::Scoped,
        O::None,
    ),
    r("POST", "/api/v1/embedded/sources", A::Scoped, O::None),
    r("GET", "/api/v1/embedded/sources", A::Scoped, O::None),
    r("GET", "/api/v1/embedded/sources/{id}", A::Scoped, O::Source),
    r("PUT", "/api/v1/embedded/sources/{id}", A::Scoped, O::Source),
    r(
        "DELETE",
        "/api/v1/embedded/sources/{id}",
        A::Scoped,
        O::Source,
    ),
    r("GET", "/api/v1/workspaces", A::Org, O::None),
    r("GET", "/api/v1/workspaces/stats", A::Org, O::None),
    r("GET", "/api/v1/workspaces/overview", A::Org, O::None),
    r("GET", "/api/v1/workspaces/{id}", A::Org, O::Workspace),
    r("PATCH", "/api/v1/workspaces/{id}", A::Org, O::Workspace),
    r("PUT", "/api/v1/workspaces/{id}", A::Org, O::Workspace),
    r("DELETE", "/api/v1/workspaces/{id}", A::Org, O::Workspace),
    r("GET", "/api/v1/workspaces/{id}/runs", A::Org, O::Workspace),
    r(
        "POST",
        "/api/v1/workspaces/{id}/revoke-tokens",
        A::Org,
        O::Workspace,
    ),
    r(
        "POST",
        "/api/v1/workspaces/{id}/merge",
        A::Org,
        O::Workspace,
    ),
    // The worker protocol. A job is named by the path and proven by the body (its workspace
    // and fencing token), so the walkers send no valid body and the ids mean nothing to them;
    // `job_protocol.rs` tests another organization's job there.
    r("POST", "/api/v1/jobs/claim", A::Worker, O::None),
    r("POST", "/api/v1/jobs/{id}/heartbeat", A::Worker, O::None),
    r("POST", "/api/v1/jobs/{id}/complete", A::Worker, O::None),
    r("POST", "/api/v1/dashboard/session", A::None, O::None),
    r("GET", "/api/v1/dashboard/session", A::None, O::None),
    r("DELETE", "/api/v1/dashboard/session", A::None, O::None),
    r("GET", t!("/sources"), A::Org, O::None),
    r("POST", t!("/sources"), A::Org, O::None),
    r("GET", t!("/sources/{id}"), A::Org, O::SourceTemplate),
    r("PATCH", t!("/sources/{id}"), A::Org, O::SourceTemplate),
    r("DELETE", t!("/sources/{id}"), A::Org, O::SourceTemplate),
    r("POST", t!("/sources/{id}/tags"), A::Org, O::SourceTemplate),
    r(
        "DELETE",
        t!("/sources/{id}/tags/{tag}"),
        A::Org,
        O::SourceTemplate,
    ),
    r("GET", t!("/connections"), A::Org, O::None),
    r("POST", t!("/connections"), A::Org, O::None),
    r(
        "GET",
        t!("/connections/{id}"),
        A::Org,
        O::ConnectionTemplate,
    ),
    r(
        "PATCH",
        t!("/connections/{id}"),
        A::Org,
        O::ConnectionTemplate,
    ),
    r(
        "DELETE",
        t!("/connections/{id}"),
        A::Org,
        O::ConnectionTemplate,
    ),
    r(
        "POST",
        t!("/connections/{id}/tags"),
        A::Org,
        O::ConnectionTemplate,
    ),
    r(
        "DELETE",
        t!("/connections/{id}/tags/{tag}"),
        A::Org,
        O::ConnectionTemplate,
    ),
    r("GET", t!("/tags"), A::Org, O::None),
    r("POST", t!("/tags"), A::Org, O::None),
    r("PUT", t!("/tags/{id}"), A::Org, O::Tag),
    r("DELETE", t!("/tags/{id}"), A::Org, O::Tag),
    r("GET", "/api/v1/organization/stats", A::Org, O::None),
    r("GET", "/api/v1/organization/audit", A::Org, O::None),
    r("GET", "/api/v1/organization/audit/verify", A::Org, O::None),
    r("GET", "/api/v1/organization/keys", A::Org, O::None),
    r("POST", "/api/v1/organization/keys", A::Org, O::None),
    r(
        "DELETE",
        "/api/v1/organization/keys/{id}",
        A::Org,
        O::OrgKey,
    ),
    r("GET", "/api/v1/organization/signing-keys", A::Org, O::None),
    r(
        "POST",
        "/api/v1/organization/signing-keys/rotate",
        A::Org,
        O::None,
    ),
    r(
        "DELETE",
        "/api/v1/organization/signing-keys/{id}",
        A::Org,
        O::SigningKey,
    ),
    r(
        "POST",
        "/api/v1/account/applications/token",
        A::None,
        O::None,
    ),
    r("POST", "/applications/token", A::None, O::None),
    r("GET", "/api/v1/openapi.json", A::None, O::None),
    r("GET", "/api/v1/docs", A::None, O::None),
    r("GET", "/api/v1/docs/docs.js", A::None, O::None),
    r("GET", "/api/v1/docs/docs.css", A::None, O::None),
    r("GET", "/favicon.ico", A::None, O::None),
    r("GET", "/dashboard", A::None, O::None),
    r("GET", "/dashboard/", A::None, O::None),
    r("GET", "/dashboard/{file}", A::None, O::None),
    r("GET", "/widget/", A::None, O::None),
    r("GET", "/widget/{file}", A::None, O::None),
];

/// The Airbyte public API v1 routes, each served under every one of [`V1_PREFIXES`].
pub(crate) const V1_ROUTES: &[Route] = &[
    r("POST", "/applications/token", A::None, O::None),
    r("GET", "/health", A::None, O::None),
    r("GET", "/workspaces", A::Org, O::None),
    r("POST", "/workspaces", A::Org, O::None),
    r("GET", "/workspaces/{id}", A::Org, O::Workspace),
    r("PATCH", "/workspaces/{id}", A::Org, O::Workspace),
    r("DELETE", "/workspaces/{id}", A::Org, O::Workspace),
    r("GET", "/sources", A::Any, O::None),
    r("POST", "/sources", A::Any, O::None),
    r("GET", "/sources/{id}", A::Any, O::Source),
    r("PATCH", "/sources/{id}", A::Any, O::Source),
    r("PUT", "/sources/{id}", A::Any, O::Source),
    r("DELETE", "/sources/{id}", A::Any, O::Source),
    r("GET", "/destinations", A::Any, O::None),
    r("POST", "/destinations", A::Any, O::None),
    r("GET", "/destinations/{id}", A::Any, O::Destination),
    r("PATCH", "/destinations/{id}", A::Any, O::Destination),
    r("PUT", "/destinations/{id}", A::Any, O::Destination),
    r("DELETE", "/destinations/{id}", A::Any, O::Destination),
    r("GET", "/connections", A::Any, O::None),
    r("POST", "/connections", A::Any, O::None),
    r("GET", "/connections/{id}", A::Any, O::Connection),
    r("PATCH", "/connections/{id}", A::Any, O::Connection),
    r("DELETE", "/connections/{id}", A::Any, O::Connection),
    r("GET", "/jobs", A::Any, O::None),
    r("POST", "/jobs", A::Any, O::None),
    r("GET", "/jobs/{id}", A::Any, O::Job),
    r("DELETE", "/jobs/{id}", A::Any, O::Job),
    r("GET", "/organizations", A::Org, O::None),
];

/// Where [`V1_ROUTES`] are served.
pub(crate) const V1_PREFIXES: [&str; 2] = ["/v1", "/api/public/v1"];

/// Every route with its full path: [`ROUTES`], then [`V1_ROUTES`] under each prefix.
pub(crate) fn all() -> Vec<(Route, String)> {
    let mut out: Vec<(Route, String)> = ROUTES.iter().map(|r| (*r, r.path.to_owned())).collect();
    for prefix in V1_PREFIXES {
        out.extend(
            V1_ROUTES
                .iter()
                .map(|r| (*r, format!("{prefix}{}", r.path))),
        );
    }
    out
}

impl Route {
    /// The path with `{id}` replaced by `id`, and `{tag}` by [`TAG`].
    pub(crate) fn with_id(path: &str, id: &str) -> String {
        path.replace("{id}", id).replace("{tag}", TAG)
    }
}

/// The tag name the template tag routes are given: one every organization's templates carry.
pub(crate) const TAG: &str = "production";

/// `path` with every `{name}` parameter written `{}`, so that paths naming their
/// parameters differently compare equal.
pub(crate) fn normalized(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
