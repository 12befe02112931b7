//! A property of every adapter: a secret the organization puts into a template never reaches
//! a customer in clear, whatever the organization later does to the template's spec.
//!
//! Each case is a fresh harness, an organization with one source template and one connection
//! template over four string fields `f0` to `f3`, and a random run of steps: the organization
//! marks and unmarks fields `airbyte_secret` in either spec and puts random marker values into
//! the fields that are secret when it puts them; customers (several workspaces, each through a
//! scoped token) create sources from the template, each field of their configuration left
//! out, sent as the mask, or a value of their own, and update them likewise; the organization
//! updates customers' destinations. After every step no customer-visible read (what creates
//! and updates returned, gets and lists of sources and destinations, the templates a
//! workspace sees, the dashboard overview) and, where the harness can read them, no byte of
//! the database holds any marker in clear.

use std::collections::BTreeMap;

use bulkhead_core::{
    ConfigSpec, ConnectionTemplateUpdate, ConnectorConfig, ConnectorUpdate, Error, OrgScope, Page,
    SECRET_MASK, ScopedTokenRequest, SourceTemplateUpdate, WorkspaceFilter, WorkspaceScope,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use super::{Harness, all_pages, ext, new_org};
use crate::model::cases_or;

/// The fields of both templates' configurations.
const FIELDS: [&str; 4] = ["f0", "f1", "f2", "f3"];

/// What one side (the organization or a customer) sends for one field.
#[derive(Clone, Copy, Debug)]
enum Input {
    /// Leaves it out.
    Omit,
    /// Sends the mask back.
    Mask,
    /// Sends a value of its own (never a marker).
    Own,
}

/// What the organization does to one field of a template's defaults.
#[derive(Clone, Copy, Debug)]
enum DefaultChange {
    /// Sends back what the template shows (the mask for a sealed field).
    Keep,
    /// Puts a new value: a marker if the field is secret now, else a plain value.
    Put,
    /// Drops it.
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Source,
    Connection,
}

#[derive(Clone, Debug)]
enum Step {
    /// The organization replaces a template's spec: these fields are marked secret.
    Spec(Which, [bool; 4]),
    /// The organization replaces a template's defaults.
    Defaults(Which, [DefaultChange; 4]),
    /// A customer creates a source from the template.
    Create { customer: usize, fields: [Input; 4] },
    /// A customer updates one of their sources.
    Update { source: usize, fields: [Input; 4] },
    /// The organization updates a customer's destination.
    OrgUpdateDestination {
        destination: usize,
        fields: [Input; 4],
    },
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![Just(Input::Omit), Just(Input::Mask), Just(Input::Own)]
}

fn default_change() -> impl Strategy<Value = DefaultChange> {
    prop_oneof![
        Just(DefaultChange::Keep),
        Just(DefaultChange::Put),
        Just(DefaultChange::Drop)
    ]
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![Just(Which::Source), Just(Which::Connection)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (which(), proptest::array::uniform4(any::<bool>())).prop_map(|(w, m)| Step::Spec(w, m)),
        2 => (which(), proptest::array::uniform4(default_change()))
            .prop_map(|(w, d)| Step::Defaults(w, d)),
        3 => (0..4usize, proptest::array::uniform4(input()))
            .prop_map(|(customer, fields)| Step::Create { customer, fields }),
        2 => (0..8usize, proptest::array::uniform4(input()))
            .prop_map(|(source, fields)| Step::Update { source, fields }),
        1 => (0..8usize, proptest::array::uniform4(input()))
            .prop_map(|(destination, fields)| Step::OrgUpdateDestination { destination, fields }),
    ]
}

fn spec(marked: [bool; 4]) -> ConfigSpec {
    let properties: Map<String, Value> = FIELDS
        .iter()
        .zip(marked)
        .map(|(name, secret)| {
            let mut field = json!({"type": "string"});
            if secret {
                field["airbyte_secret"] = json!(true);
            }
            ((*name).to_owned(), field)
        })
        .collect();
    ConfigSpec::parse(json!({"type": "object", "properties": properties})).unwrap()
}

/// One case's world.
struct World<'h> {
    h: &'h Harness,
    org: OrgScope,
    source_template: bulkhead_core::SourceTemplateId,
    connection_template: bulkhead_core::ConnectionTemplateId,
    marked: BTreeMap<bool, [bool; 4]>,
    customers: Vec<Option<WorkspaceScope>>,
    /// Sources made, with the scope that made them.
    sources: Vec<(usize, bulkhead_core::SourceId)>,
    destinations: Vec<(usize, bulkhead_core::DestinationId)>,
    markers: Vec<String>,
    /// Everything a customer was shown, as JSON text, since the last check.
    shown: Vec<String>,
    counter: u64,
}

impl World<'_> {
    fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}-{}-{}", self.counter, uuid::Uuid::new_v4().simple())
    }

    fn marked(&self, which: Which) -> [bool; 4] {
        self.marked[&(which == Which::Source)]
    }

    /// A customer's (or the organization's) configuration from `fields`.
    fn customer_config(&mut self, fields: [Input; 4]) -> ConnectorConfig {
        let mut map = Map::new();
        for (name, input) in FIELDS.iter().zip(fields) {
            match input {
                Input::Omit => {}
                Input::Mask => {
                    map.insert((*name).to_owned(), json!(SECRET_MASK));
                }
                Input::Own => {
                    let own = self.fresh("own");
                    map.insert((*name).to_owned(), json!(own));
                }
            }
        }
        ConnectorConfig::new(Value::Object(map)).unwrap()
    }

    /// The result of a call that may be refused for its input (the mask with nothing behind
    /// it, the L8 rule) or, over a leaky store, by the guard.
    fn tolerate<T>(&self, result: bulkhead_core::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(Error::InvalidInput { .. }) => None,
            other => self.h.answer(other),
        }
    }

    fn show(&mut self, config: &ConnectorConfig) {
        self.shown
            .push(serde_json::to_string(config.as_map()).unwrap());
    }

    fn customer(&mut self, index: usize) -> Option<WorkspaceScope> {
        if self.customers[index].is_none() {
            let issued = self.h.answer(
                self.org
                    .scoped_token(&ScopedTokenRequest::new(ext(&format!("cust-{index}")))),
            )?;
            let scope = self
                .h
                .answer(self.h.engine().authenticate(issued.token.expose()))?;
            self.customers[index] = Some(scope);
        }
        self.customers[index].clone()
    }

    /// The organization replaces a template's spec or defaults.
    fn update_template(
        &self,
        which: Which,
        spec: Option<ConfigSpec>,
        config: Option<ConnectorConfig>,
    ) {
        match which {
            Which::Source => {
                self.org
                    .update_source_template(
                        self.source_template,
                        &SourceTemplateUpdate {
                            spec,
                            default_config: config,
                            ..SourceTemplateUpdate::default()
                        },
                    )
                    .unwrap();
            }
            Which::Connection => {
                self.org
                    .update_connection_template(
                        self.connection_template,
                        &ConnectionTemplateUpdate {
                            destination_spec: spec,
                            destination_config: config,
                            ..ConnectionTemplateUpdate::default()
                        },
                    )
                    .unwrap();
            }
        }
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Spec(which, marked) => {
                self.update_template(*which, Some(spec(*marked)), None);
                self.marked.insert(*which == Which::Source, *marked);
            }
            Step::Defaults(which, changes) => {
                let shown = match which {
                    Which::Source => {
                        self.org
                            .get_source_template(self.source_template)
                            .unwrap()
                            .default_config
                    }
                    Which::Connection => {
                        self.org
                            .get_connection_template(self.connection_template)
                            .unwrap()
                            .destination_config
                    }
                };
                let marked = self.marked(*which);
                let mut map = shown.as_map().clone();
                for ((name, change), secret) in FIELDS.iter().zip(changes).zip(marked) {
                    let sealed = map.get(*name).and_then(Value::as_str) == Some(SECRET_MASK);
                    match change {
                        DefaultChange::Keep => {}
                        DefaultChange::Drop => {
                            map.remove(*name);
                        }
                        // A field sealed in the template stays secret there: what goes into
                        // it is a secret too.
                        DefaultChange::Put if secret || sealed => {
                            let marker = self.fresh("MARKER");
                            self.markers.push(marker.clone());
                            map.insert((*name).to_owned(), json!(marker));
                        }
                        DefaultChange::Put => {
                            let plain = self.fresh("plain");
                            map.insert((*name).to_owned(), json!(plain));
                        }
                    }
                }
                let config = ConnectorConfig::new(Value::Object(map)).unwrap();
                self.update_template(*which, None, Some(config));
            }
            Step::Create { customer, fields } => {
                let Some(ws) = self.customer(*customer) else {
                    return;
                };
                let config = self.customer_config(*fields);
                let name = self.fresh("source");
                let made = self.tolerate(ws.create_source_from_template(
                    bulkhead_core::NewSourceFromTemplate {
                        template_id: self.source_template,
                        name: name.parse().unwrap(),
                        config,
                    },
                ));
                if let Some(made) = made {
                    self.show(&made.source.config);
                    self.sources.push((*customer, made.source.id));
                    for destination in &made.destinations {
                        self.show(&destination.config);
                        if !self.destinations.contains(&(*customer, destination.id)) {
                            self.destinations.push((*customer, destination.id));
                        }
                    }
                }
            }
            Step::Update { source, fields } => {
                let Some(&(customer, id)) = self.sources.get(source % self.sources.len().max(1))
                else {
                    return;
                };
                let Some(ws) = self.customer(customer) else {
                    return;
                };
                let config = self.customer_config(*fields);
                let updated = self.tolerate(ws.update_source(
                    id,
                    &ConnectorUpdate {
                        name: None,
                        config: Some(config),
                    },
                ));
                if let Some(updated) = updated {
                    self.show(&updated.config);
                }
            }
            Step::OrgUpdateDestination {
                destination,
                fields,
            } => {
                let Some(&(customer, id)) = self
                    .destinations
                    .get(destination % self.destinations.len().max(1))
                else {
                    return;
                };
                let Some(ws) = self.customer(customer) else {
                    return;
                };
                let Some(full) = self.h.answer(self.org.workspace(ws.workspace_id())) else {
                    return;
                };
                let config = self.customer_config(*fields);
                let updated = self.tolerate(full.update_destination(
                    id,
                    &ConnectorUpdate {
                        name: None,
                        config: Some(config),
                    },
                ));
                if let Some(updated) = updated {
                    self.show(&updated.config);
                }
            }
        }
    }

    /// Everything each customer can read now, and the dashboard, into `shown`.
    fn read_everything(&mut self) {
        let scopes: Vec<WorkspaceScope> = self.customers.iter().flatten().cloned().collect();
        for ws in &scopes {
            let sources = self.h.answer(all_pages(7, |p| ws.list_sources(p)));
            let destinations = self.h.answer(all_pages(7, |p| ws.list_destinations(p)));
            for source in sources.into_iter().flatten() {
                self.show(&source.config);
                if let Some(again) = self.h.answer(ws.get_source(source.id)) {
                    self.show(&again.config);
                }
            }
            for destination in destinations.into_iter().flatten() {
                self.show(&destination.config);
                if let Some(again) = self.h.answer(ws.get_destination(destination.id)) {
                    self.show(&again.config);
                }
            }
            for template in self.h.answer(ws.source_templates()).into_iter().flatten() {
                self.show(&template.default_config);
            }
            for template in self
                .h
                .answer(ws.connection_templates())
                .into_iter()
                .flatten()
            {
                self.show(&template.destination_config);
            }
        }
        if let Some(page) = self.h.answer(
            self.org
                .workspace_overview(&WorkspaceFilter::default(), &Page::first(100)),
        ) {
            self.shown.push(format!("{:?}", page.items));
        }
    }

    /// Fails if any marker is in anything shown, or in the database's bytes.
    fn check(&mut self, after: &Step) -> Result<(), TestCaseError> {
        self.read_everything();
        let raw = self.h.raw_bytes();
        for marker in &self.markers {
            for shown in &self.shown {
                prop_assert!(
                    !shown.contains(marker.as_str()),
                    "after {after:?}, a customer was shown the organization's secret: {shown}"
                );
            }
            if let Some(raw) = &raw {
                prop_assert!(
                    !raw.windows(marker.len()).any(|w| w == marker.as_bytes()),
                    "after {after:?}, the database holds the organization's secret in clear"
                );
            }
        }
        self.shown.clear();
        Ok(())
    }
}

fn run_case(h: &Harness, initial: [[bool; 4]; 2], steps: &[Step]) -> Result<(), TestCaseError> {
    let (org, _) = new_org(h, "Acme");
    // Both templates start with every secret field holding a marker.
    let mut markers = Vec::new();
    let mut defaults = |marked: [bool; 4]| {
        let map: Map<String, Value> = FIELDS
            .iter()
            .zip(marked)
            .map(|(name, secret)| {
                let value = if secret {
                    let marker = format!("MARKER-initial-{}", uuid::Uuid::new_v4().simple());
                    markers.push(marker.clone());
                    marker
                } else {
                    format!("plain-initial-{name}")
                };
                ((*name).to_owned(), json!(value))
            })
            .collect();
        ConnectorConfig::new(Value::Object(map)).unwrap()
    };
    let source_defaults = defaults(initial[0]);
    let connection_defaults = defaults(initial[1]);
    let source_template = org
        .create_source_template(bulkhead_core::NewSourceTemplate {
            name: "Source".parse().unwrap(),
            connector: "stripe".parse().unwrap(),
            default_config: source_defaults,
            spec: spec(initial[0]),
            tags: Default::default(),
        })
        .unwrap()
        .id;
    let connection_template = org
        .create_connection_template(bulkhead_core::NewConnectionTemplate {
            name: "Connection".parse().unwrap(),
            destination_name: "Destination".parse().unwrap(),
            destination_connector: "s3".parse().unwrap(),
            destination_config: connection_defaults,
            destination_spec: spec(initial[1]),
            schedule: bulkhead_core::Schedule::Manual,
            tags: Default::default(),
        })
        .unwrap()
        .id;
    let mut world = World {
        h,
        org,
        source_template,
        connection_template,
        marked: [(true, initial[0]), (false, initial[1])].into(),
        customers: vec![None; 4],
        sources: Vec::new(),
        destinations: Vec::new(),
        markers,
        shown: Vec::new(),
        counter: 0,
    };
    for step in steps {
        world.run(step);
        world.check(step)?;
    }
    Ok(())
}

/// See the module docs. Runs `BULKHEAD_PROPTEST_CASES` cases (default 24) of up to 16
/// steps, each on a fresh harness.
pub fn template_secrets_never_reach_a_customer_in_clear(factory: &dyn Fn() -> Harness) {
    let mut runner = TestRunner::new(Config {
        cases: cases_or(24),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        proptest::array::uniform2(proptest::array::uniform4(any::<bool>())),
        proptest::collection::vec(step(), 1..16),
    );
    if factory().raw_bytes().is_none() {
        super::skipped(
            "template_secrets_never_reach_a_customer_in_clear",
            "reader of the database's bytes",
        );
    }
    let result = runner.run(&strategy, |(initial, steps)| {
        let h = factory();
        run_case(&h, initial, &steps)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
