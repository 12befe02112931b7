//! `bulkhead worker --exec CMD`: the loop that claims jobs and runs a connector for each.
//!
//! The loop knows the queue only through [`Queue`] (claim, heartbeat, finish) and the
//! connector only through [`exec::run`]: one job at a time, claimed, run with heartbeats,
//! finished with the connector's outcome. A heartbeat that finds the job no longer this
//! worker's (cancelled, or retried under a newer fencing token after the lease ran out) stops
//! the connector, and the job is left to whoever holds it now. A shutdown (SIGINT, SIGTERM)
//! between jobs ends the loop; during a job it stops the connector and leaves the job
//! unfinished, so it is claimed again once its lease runs out, like a crashed worker's.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::CliError;
use crate::exec::{self, Beat, Outcome};

/// The job queue, as a worker sees it.
pub(crate) trait Queue {
    /// A claimed job: the worker's hold on it.
    type Held;

    /// Claims the next ready job: the hold, the connector's input (JSON, secrets included:
    /// never printed) and a label to log (ids only). `None` when nothing is ready.
    fn claim(&mut self) -> Result<Option<Claimed<Self::Held>>, CliError>;

    /// Extends the hold. [`Beat::Stop`] when the job is no longer this worker's.
    fn heartbeat(&mut self, held: &mut Self::Held) -> Result<Beat, CliError>;

    /// Ends the job as `outcome` says (never [`Outcome::Stopped`]). `false` when the job was no
    /// longer this worker's, so the outcome was refused.
    fn finish(&mut self, held: &Self::Held, outcome: &Outcome) -> Result<bool, CliError>;
}

/// What [`Queue::claim`] hands the loop.
pub(crate) struct Claimed<H> {
    /// The worker's hold on the job.
    pub(crate) held: H,
    /// The connector's stdin.
    pub(crate) input: Vec<u8>,
    /// The job, for the log: ids only.
    pub(crate) label: String,
}

/// How the loop runs.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// The connector command (`sh -c`).
    pub(crate) command: String,
    /// How often a running job is heartbeated.
    pub(crate) heartbeat_every: Duration,
    /// How long to wait before claiming again when nothing was ready.
    pub(crate) idle_wait: Duration,
    /// End once nothing is ready, instead of waiting for more.
    pub(crate) drain: bool,
    /// End after this many jobs.
    pub(crate) max_jobs: Option<u64>,
}

/// What the loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Tally {
    /// Jobs finished as succeeded.
    pub(crate) succeeded: u64,
    /// Jobs finished as failed.
    pub(crate) failed: u64,
    /// Jobs whose connector was stopped (cancelled, lease lost, or shutdown).
    pub(crate) stopped: u64,
    /// Outcomes refused because the job was no longer this worker's.
    pub(crate) fenced: u64,
}

impl Tally {
    fn jobs(&self) -> u64 {
        self.succeeded + self.failed + self.stopped + self.fenced
    }

    /// Both tallies together.
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            succeeded: self.succeeded + other.succeeded,
            failed: self.failed + other.failed,
            stopped: self.stopped + other.stopped,
            fenced: self.fenced + other.fenced,
        }
    }
}

/// Claims and runs jobs until the queue is drained (with `drain`), `max_jobs` is reached or
/// `shutdown` is set. Progress lines (ids, outcomes, never configurations) go to `log`.
pub(crate) fn work<Q: Queue>(
    queue: &mut Q,
    options: &Options,
    shutdown: &AtomicBool,
    log: &mut dyn Write,
) -> Result<Tally, CliError> {
    let mut tally = Tally::default();
    while !shutdown.load(Ordering::SeqCst) && options.max_jobs.is_none_or(|max| tally.jobs() < max)
    {
        let Some(Claimed {
            mut held,
            input,
            label,
        }) = queue.claim()?
        else {
            if options.drain {
                break;
            }
            idle(options.idle_wait, shutdown);
            continue;
        };
        let _ = writeln!(log, "claimed {label}");
        let mut lost = false;
        let outcome = exec::run(&options.command, &input, options.heartbeat_every, || {
            if shutdown.load(Ordering::SeqCst) {
                return Beat::Stop;
            }
            match queue.heartbeat(&mut held) {
                Ok(Beat::Stop) => {
                    lost = true;
                    Beat::Stop
                }
                Ok(Beat::Continue) => Beat::Continue,
                // A failed heartbeat is not a lost job: the next one may get through, and if
                // none does the lease runs out and the job goes to another worker.
                Err(e) => {
                    let _ = writeln!(log, "heartbeat failed for {label}: {e}");
                    Beat::Continue
                }
            }
        });
        drop(input);
        match &outcome {
            Outcome::Stopped => {
                tally.stopped += 1;
                let why = if lost {
                    "cancelled or no longer this worker's"
                } else {
                    "shutting down; it will be claimed again after its lease"
                };
                let _ = writeln!(log, "stopped {label}: {why}");
            }
            Outcome::Succeeded { .. } | Outcome::Failed { .. } => {
                if queue.finish(&held, &outcome)? {
                    let _ = match &outcome {
                        Outcome::Succeeded { rows, bytes } => {
                            tally.succeeded += 1;
                            writeln!(log, "succeeded {label}: {rows} rows, {bytes} bytes")
                        }
                        Outcome::Failed { error } => {
                            tally.failed += 1;
                            writeln!(log, "failed {label}: {error}")
                        }
                        Outcome::Stopped => Ok(()),
                    };
                } else {
                    tally.fenced += 1;
                    let _ = writeln!(
                        log,
                        "outcome of {label} refused: the job is no longer this worker's"
                    );
                }
            }
        }
    }
    Ok(tally)
}

/// Waits `wait` (with up to a quarter more, so idle workers do not all poll at once), or
/// until `shutdown`.
fn idle(wait: Duration, shutdown: &AtomicBool) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = u64::from(std::process::id() ^ nanos) % 250;
    let deadline = Instant::now() + wait + wait.mul_f64(jitter as f64 / 1000.0);
    while Instant::now() < deadline && !shutdown.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20).min(wait));
    }
}

pub(crate) mod local;

#[cfg(test)]
mod tests;
