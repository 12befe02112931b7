use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Claimed, Options, Queue, Tally, work};
use crate::error::CliError;
use crate::exec::{Beat, Outcome};

/// A queue in memory: jobs by number, each with the input its connector gets.
#[derive(Default)]
struct Memory {
    ready: VecDeque<(u32, String)>,
    /// Heartbeats per job.
    beats: Vec<(u32, u32)>,
    /// Jobs whose hold is lost at their first heartbeat.
    lose: Vec<u32>,
    /// Jobs whose outcome is refused (fenced).
    fence: Vec<u32>,
    finished: Vec<(u32, Outcome)>,
    claims: u32,
}

impl Memory {
    fn with(jobs: &[(u32, &str)]) -> Self {
        Self {
            ready: jobs.iter().map(|(n, i)| (*n, (*i).to_owned())).collect(),
            ..Self::default()
        }
    }

    fn beats_of(&self, job: u32) -> u32 {
        self.beats
            .iter()
            .find(|(n, _)| *n == job)
            .map_or(0, |(_, c)| *c)
    }
}

impl Queue for Memory {
    type Held = u32;

    fn claim(&mut self) -> Result<Option<Claimed<u32>>, CliError> {
        self.claims += 1;
        Ok(self.ready.pop_front().map(|(n, input)| Claimed {
            held: n,
            input: input.into_bytes(),
            label: format!("job {n}"),
        }))
    }

    fn heartbeat(&mut self, held: &mut u32) -> Result<Beat, CliError> {
        match self.beats.iter_mut().find(|(n, _)| n == held) {
            Some((_, count)) => *count += 1,
            None => self.beats.push((*held, 1)),
        }
        Ok(if self.lose.contains(held) {
            Beat::Stop
        } else {
            Beat::Continue
        })
    }

    fn finish(&mut self, held: &u32, outcome: &Outcome) -> Result<bool, CliError> {
        assert_ne!(
            *outcome,
            Outcome::Stopped,
            "a stopped job is never finished"
        );
        if self.fence.contains(held) {
            return Ok(false);
        }
        assert!(
            self.finished.iter().all(|(n, _)| n != held),
            "job {held} finished twice"
        );
        self.finished.push((*held, outcome.clone()));
        Ok(true)
    }
}

/// A connector that answers the number on its stdin as rows, or fails on "fail".
const ECHO: &str = r#"read n; if [ "$n" = fail ]; then echo '{"error": "told to"}'; else echo "{\"rows\": $n, \"bytes\": 1}"; fi"#;

fn options(command: &str) -> Options {
    Options {
        command: command.into(),
        heartbeat_every: Duration::from_millis(40),
        idle_wait: Duration::from_millis(10),
        drain: true,
        max_jobs: None,
    }
}

fn run(queue: &mut Memory, options: &Options) -> (Tally, String) {
    let mut log = Vec::new();
    let tally = work(queue, options, &AtomicBool::new(false), &mut log).unwrap();
    (tally, String::from_utf8(log).unwrap())
}

/// Runs the loop with `shutdown` set after `after`.
fn run_until_shutdown(queue: &mut Memory, options: &Options, after: Duration) -> (Tally, String) {
    let shutdown = AtomicBool::new(false);
    let mut log = Vec::new();
    let tally = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(after);
            shutdown.store(true, Ordering::SeqCst);
        });
        work(queue, options, &shutdown, &mut log).unwrap()
    });
    (tally, String::from_utf8(log).unwrap())
}

#[test]
fn every_job_is_run_once_and_finished_with_its_connectors_outcome() {
    let mut queue = Memory::with(&[(1, "10\n"), (2, "fail\n"), (3, "30\n")]);
    let (tally, log) = run(&mut queue, &options(ECHO));
    assert_eq!(
        queue.finished,
        [
            (1, Outcome::Succeeded { rows: 10, bytes: 1 }),
            (
                2,
                Outcome::Failed {
                    error: "told to".into()
                }
            ),
            (3, Outcome::Succeeded { rows: 30, bytes: 1 }),
        ]
    );
    assert_eq!(
        tally,
        Tally {
            succeeded: 2,
            failed: 1,
            ..Tally::default()
        }
    );
    assert!(log.contains("succeeded job 1: 10 rows, 1 bytes"), "{log}");
    assert!(log.contains("failed job 2: told to"), "{log}");
}

#[test]
fn the_input_is_never_logged() {
    let mut queue = Memory::with(&[(1, "7 hunter2\n")]);
    let (tally, log) = run(
        &mut queue,
        &options(r#"cat >/dev/null; echo '{"rows": 1, "bytes": 1}'"#),
    );
    assert_eq!(tally.succeeded, 1);
    assert!(!log.contains("hunter2"), "{log}");
}

#[test]
fn a_job_lost_at_a_heartbeat_is_stopped_and_not_finished() {
    let mut queue = Memory::with(&[(1, "1\n"), (2, "2\n")]);
    queue.lose.push(1);
    let slow = format!("sleep 0.5; {ECHO}");
    let (tally, log) = run(&mut queue, &options(&slow));
    assert_eq!(tally.stopped, 1, "{log}");
    assert_eq!(
        queue.beats_of(1),
        1,
        "no heartbeat after the one that lost it"
    );
    assert!(log.contains("stopped job 1: cancelled"), "{log}");
    // The next job is run as usual, heartbeated while it runs.
    assert_eq!(
        queue.finished,
        [(2, Outcome::Succeeded { rows: 2, bytes: 1 })]
    );
    assert!(queue.beats_of(2) >= 2, "{}", queue.beats_of(2));
}

#[test]
fn a_refused_outcome_is_counted_as_fenced() {
    let mut queue = Memory::with(&[(1, "1\n")]);
    queue.fence.push(1);
    let (tally, log) = run(&mut queue, &options(ECHO));
    assert_eq!(
        tally,
        Tally {
            fenced: 1,
            ..Tally::default()
        }
    );
    assert!(queue.finished.is_empty());
    assert!(log.contains("outcome of job 1 refused"), "{log}");
}

#[test]
fn max_jobs_ends_the_loop() {
    let mut queue = Memory::with(&[(1, "1\n"), (2, "2\n"), (3, "3\n")]);
    let (tally, _) = run(
        &mut queue,
        &Options {
            max_jobs: Some(2),
            ..options(ECHO)
        },
    );
    assert_eq!(tally.succeeded, 2);
    assert_eq!(queue.ready.len(), 1);
}

#[test]
fn drain_ends_at_the_first_empty_claim() {
    let mut queue = Memory::with(&[(1, "1\n")]);
    let (tally, _) = run(&mut queue, &options(ECHO));
    assert_eq!(tally.succeeded, 1);
    assert_eq!(queue.claims, 2);
}

#[test]
fn without_drain_an_empty_queue_is_polled_until_shutdown() {
    let mut queue = Memory::default();
    let options = Options {
        drain: false,
        ..options(ECHO)
    };
    let (tally, _) = run_until_shutdown(&mut queue, &options, Duration::from_millis(300));
    assert_eq!(tally, Tally::default());
    assert!(queue.claims >= 3, "only {} claims", queue.claims);
}

#[test]
fn a_shutdown_during_a_job_stops_it_without_finishing_it() {
    let mut queue = Memory::with(&[(1, "1\n"), (2, "2\n")]);
    let slow = format!("sleep 5; {ECHO}");
    let (tally, log) = run_until_shutdown(&mut queue, &options(&slow), Duration::from_millis(300));
    assert_eq!(tally.stopped, 1);
    assert!(queue.finished.is_empty());
    assert_eq!(queue.ready.len(), 1, "the second job was claimed");
    assert!(log.contains("shutting down"), "{log}");
}
