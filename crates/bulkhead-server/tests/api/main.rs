//! The HTTP API's integration tests, one test binary: each file of this directory is a module,
//! and `../support/` holds the server, the world and the route table they share. One binary
//! links the server, the engine and their dependencies once instead of once per file.
//!
//! A new test file goes here with its `mod` line below, and says `use crate::support;` (and
//! `use crate::browser;` for a page test) where a binary of its own would say `mod support;`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../support/browser.rs"]
mod browser;
#[path = "../support/mod.rs"]
mod support;

mod browser_dashboard;
mod browser_organization;
mod browser_pages;
mod browser_widget;
mod dashboard_api;
mod embedded_api;
mod http_isolation;
mod http_property;
mod job_protocol;
mod limits;
mod malformed;
mod openapi;
mod organization_api;
mod postgres;
mod public_v1;
mod public_v1_connections;
mod public_v1_destinations;
mod public_v1_jobs;
mod public_v1_sources;
mod python_sdk;
mod refusals;
mod templates_api;
mod widget;
mod worker_keys;
mod workspaces_api;
