//! `bulkhead fake-connector`: a stand-in connector command for the demo and the tests.
//!
//! It speaks the worker's protocol ([`crate::exec`]): it reads a job on stdin, pretends to
//! copy rows for a moment, and answers `{"rows": N, "bytes": N}` on stdout. The source's
//! configuration may steer it (all optional):
//!
//! - `fake_rows`: how many rows to report (default: a number from 1,000 to 9,999 derived from
//!   the connection's name and its two connectors, so a connection reports the same every
//!   time);
//! - `fake_delay_ms`: how long to pretend (default `--delay-ms`, 300; at most 60,000);
//! - `fake_error`: fail the sync with this message instead.
//!
//! It never prints the configuration: only the connectors' names and the job's id, on stderr.

use std::io::{self, Read, Write};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::CliError;

/// The longest pretend sync.
const MAX_DELAY_MS: u64 = 60_000;

/// Reads the job from stdin, waits (`delay` unless the configuration says), answers on
/// stdout.
pub(crate) fn run(delay: Duration) -> Result<(), CliError> {
    let mut input = Vec::new();
    io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| CliError::io("could not read the job from stdin", e))?;
    let plan = plan(&input, delay);
    eprintln!("{}", plan.note);
    thread::sleep(Duration::from_millis(plan.delay_ms));
    let mut out = io::stdout().lock();
    writeln!(out, "{}", plan.answer)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("could not write the result to stdout", e))
}

/// What the fake connector will do for one job.
#[derive(Debug, PartialEq)]
struct Plan {
    delay_ms: u64,
    /// The result line.
    answer: Value,
    /// A line for stderr: names and ids only.
    note: String,
}

fn plan(input: &[u8], delay: Duration) -> Plan {
    let Ok(job) = serde_json::from_slice::<Value>(input) else {
        return Plan {
            delay_ms: 0,
            answer: json!({"error": "the fake connector's input is not a JSON job"}),
            note: "fake-connector: the input is not JSON".into(),
        };
    };
    let at = |pointer: &str| job.pointer(pointer);
    let text = |pointer: &str| at(pointer).and_then(Value::as_str);
    let number = |pointer: &str| at(pointer).and_then(Value::as_u64);
    let id = text("/job/run_id").unwrap_or_default();
    let delay_ms = number("/source/configuration/fake_delay_ms")
        .unwrap_or_else(|| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
        .min(MAX_DELAY_MS);
    let from = text("/source/connector").unwrap_or("?");
    let to = text("/destination/connector").unwrap_or("?");
    let name = text("/connection/name").unwrap_or_default();
    let note = format!("fake-connector: job {id}, {from} -> {to}");
    let answer = match text("/source/configuration/fake_error") {
        Some(error) => json!({ "error": error }),
        None => {
            let rows = number("/source/configuration/fake_rows")
                .unwrap_or_else(|| 1_000 + fnv(format!("{name}\n{from}\n{to}").as_bytes()) % 9_000);
            json!({"rows": rows, "bytes": rows.saturating_mul(212)})
        }
    };
    Plan {
        delay_ms,
        answer,
        note,
    }
}

/// FNV-1a: a stable small hash, so one job always reports the same rows.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::{Plan, plan as plan_with};

    fn plan(input: &[u8]) -> Plan {
        plan_with(input, Duration::from_millis(300))
    }

    fn job(config: serde_json::Value) -> Vec<u8> {
        json!({
            "job": {"run_id": "8d3c1f6e-0000-4000-8000-000000000001"},
            "connection": {"name": "S3 bucket"},
            "source": {"connector": "stripe", "configuration": config},
            "destination": {"connector": "postgres", "configuration": {"password": "hunter2"}},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_delay_is_the_options_unless_the_configuration_says() {
        assert_eq!(
            plan_with(&job(json!({})), Duration::from_millis(40)).delay_ms,
            40
        );
        let steered = job(json!({"fake_delay_ms": 7}));
        assert_eq!(plan_with(&steered, Duration::from_millis(40)).delay_ms, 7);
    }

    #[test]
    fn rows_differ_between_connections() {
        let other = json!({
            "job": {"run_id": "8d3c1f6e-0000-4000-8000-000000000001"},
            "connection": {"name": "S3 bucket"},
            "source": {"connector": "salesforce", "configuration": {}},
            "destination": {"connector": "postgres", "configuration": {}},
        });
        let a = plan(&job(json!({})));
        let b = plan(other.to_string().as_bytes());
        assert_ne!(a.answer["rows"], b.answer["rows"]);
    }

    #[test]
    fn rows_are_stable_per_connection_and_in_range() {
        let a = plan(&job(json!({"api_key": "sk_live_x"})));
        let b = plan(&job(json!({"api_key": "sk_live_x"})));
        assert_eq!(a, b);
        let rows = a.answer["rows"].as_u64().unwrap();
        assert!((1_000..10_000).contains(&rows), "{rows}");
        assert_eq!(a.answer["bytes"].as_u64().unwrap(), rows * 212);
        assert_eq!(a.delay_ms, 300);
    }

    #[test]
    fn the_configuration_steers_it() {
        let p = plan(&job(json!({"fake_rows": 7, "fake_delay_ms": 5})));
        assert_eq!(p.answer, json!({"rows": 7, "bytes": 1484}));
        assert_eq!(p.delay_ms, 5);
        let p = plan(&job(
            json!({"fake_error": "token expired", "fake_delay_ms": 999_999}),
        ));
        assert_eq!(p.answer, json!({"error": "token expired"}));
        assert_eq!(p.delay_ms, 60_000);
    }

    #[test]
    fn the_note_names_connectors_never_secrets() {
        let p = plan(&job(json!({"api_key": "sk_live_x"})));
        assert_eq!(
            p.note,
            "fake-connector: job 8d3c1f6e-0000-4000-8000-000000000001, stripe -> postgres"
        );
        assert!(!p.note.contains("sk_live") && !p.note.contains("hunter2"));
    }

    #[test]
    fn input_that_is_not_json_is_an_error_result() {
        let p = plan(b"not json");
        assert!(
            p.answer["error"]
                .as_str()
                .unwrap()
                .contains("not a JSON job")
        );
    }
}
