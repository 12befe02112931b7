//! One job's connector command: the process side of `bulkhead worker --exec CMD`.
//!
//! The protocol between a worker and its connector command, the whole of it:
//!
//! - The command runs under `sh -c CMD`, in a process group of its own, with the worker's
//!   environment.
//! - **stdin**: the job as one JSON document (the job, the connection and its configuration,
//!   secrets included), then end of file. The configuration reaches the connector this way
//!   only: never in its arguments or its environment, where other users of the machine could
//!   read it.
//! - **stdout**: the result, as the last non-empty line: `{"rows": N, "bytes": N}` for a sync
//!   that succeeded, `{"error": "why"}` for one that failed. Lines before it are ignored (a
//!   connector may print progress); more than [`MAX_OUTPUT`] bytes in all fail the job.
//! - **stderr** passes through to the worker's own stderr: it is the connector's log, never
//!   stored.
//! - **exit status**: 0 with a result line. Any other status fails the job, with the
//!   connector's `error` if it wrote one.
//! - While it runs, the worker heartbeats every `heartbeat_every`. When a heartbeat says the
//!   job is no longer this worker's (cancelled, or its lease given to another attempt), the
//!   whole process group gets `SIGTERM`, then `SIGKILL` after [`KILL_GRACE`].
//!
//! Nothing here prints or keeps the job's input: it holds secrets. A failure names what went
//! wrong with the connector (could not start, bad output, exit status), never its output.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The most a connector may write on stdout; past it the job fails (the rest is drained and
/// thrown away, so the connector never blocks on a full pipe).
pub(crate) const MAX_OUTPUT: usize = 1024 * 1024;

/// How long a stopped connector has between `SIGTERM` and `SIGKILL`.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(2);

/// The longest connector error message kept; longer ones are cut (at a character boundary).
const MAX_ERROR: usize = 1000;

/// How often the runner looks at the child between heartbeats.
const POLL: Duration = Duration::from_millis(20);

/// What a heartbeat learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    /// The job is still this worker's: keep running.
    Continue,
    /// The job was cancelled or is no longer this worker's: stop the connector.
    Stop,
}

/// How a connector run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It wrote `{"rows", "bytes"}` and exited 0.
    Succeeded {
        /// Rows moved.
        rows: u64,
        /// Bytes moved.
        bytes: u64,
    },
    /// It failed; `error` says why, in words fit for the sync run's record.
    Failed {
        /// Why.
        error: String,
    },
    /// A heartbeat said stop, and the connector was killed.
    Stopped,
}

/// The result line a connector writes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultLine {
    rows: Option<u64>,
    bytes: Option<u64>,
    error: Option<String>,
}

/// Runs `command` for one job: `input` on its stdin, `heartbeat` every `heartbeat_every`
/// while it runs (the first one after one interval). Returns when the connector has exited
/// (or was killed because a heartbeat said [`Beat::Stop`]).
pub(crate) fn run(
    command: &str,
    input: &[u8],
    heartbeat_every: Duration,
    mut heartbeat: impl FnMut() -> Beat,
) -> Outcome {
    let mut child = match spawn(command) {
        Ok(child) => child,
        Err(e) => {
            return Outcome::Failed {
                error: format!("the connector command could not be started: {e}"),
            };
        }
    };
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        stop(&mut child);
        return Outcome::Failed {
            error: "the connector's stdin or stdout could not be opened".into(),
        };
    };
    let input = input.to_vec();
    // A connector that does not read its input must not block the worker: write from a thread
    // that is never waited for, and let a closed pipe end the writing quietly.
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (sent, output) = mpsc::channel();
    let reader = thread::spawn(move || {
        let _ = sent.send(read_bounded(&mut stdout));
    });

    let mut next_beat = Instant::now() + heartbeat_every;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if Instant::now() >= next_beat {
            if heartbeat() == Beat::Stop {
                stop(&mut child);
                let _ = reader.join();
                return Outcome::Stopped;
            }
            next_beat = Instant::now() + heartbeat_every;
        }
        thread::sleep(POLL.min(heartbeat_every));
    };
    // The job is over: whatever the connector left running in its group goes too, and with
    // it the last holders of the pipe.
    kill_group(&child, Signal::Kill);
    let Ok(output) = output.recv_timeout(KILL_GRACE) else {
        // Only a process that left the group (`setsid`) can still hold the pipe; its reader
        // thread is left to end with it.
        return Outcome::Failed {
            error: "the connector left a process holding its output".into(),
        };
    };
    let _ = reader.join();
    match status {
        Ok(status) => judge(status, output),
        Err(e) => Outcome::Failed {
            error: format!("the connector could not be waited for: {e}"),
        },
    }
}

fn spawn(command: &str) -> io::Result<Child> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn()
}

/// Reads all of `from`; `Err(Some(n))` when it held more than [`MAX_OUTPUT`] bytes (`n` read
/// in all), `Err(None)` when reading failed.
fn read_bounded(from: &mut impl Read) -> Result<Vec<u8>, Option<usize>> {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total = total.saturating_add(n);
                if total <= MAX_OUTPUT {
                    kept.extend_from_slice(buf.get(..n).unwrap_or_default());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(None),
        }
    }
    if total > MAX_OUTPUT {
        Err(Some(total))
    } else {
        Ok(kept)
    }
}

fn judge(status: ExitStatus, output: Result<Vec<u8>, Option<usize>>) -> Outcome {
    let output = match output {
        Ok(output) => output,
        Err(Some(_)) => {
            return Outcome::Failed {
                error: format!(
                    "the connector wrote more than {} KiB on stdout",
                    MAX_OUTPUT / 1024
                ),
            };
        }
        Err(None) => {
            return Outcome::Failed {
                error: "the connector's output could not be read".into(),
            };
        }
    };
    let line = String::from_utf8_lossy(&output)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned);
    let parsed = line
        .as_deref()
        .and_then(|l| serde_json::from_str::<ResultLine>(l.trim()).ok());
    let exit = describe(status);
    match (status.success(), parsed) {
        (
            _,
            Some(ResultLine {
                error: Some(error), ..
            }),
        ) => Outcome::Failed {
            error: if status.success() {
                cut(&error)
            } else {
                format!("{} ({exit})", cut(&error))
            },
        },
        (
            true,
            Some(ResultLine {
                rows: Some(rows),
                bytes: Some(bytes),
                error: None,
            }),
        ) => Outcome::Succeeded { rows, bytes },
        (true, _) => Outcome::Failed {
            error: "the connector's last line is not a result: `{\"rows\": N, \"bytes\": N}` \
                    or `{\"error\": \"...\"}`"
                .into(),
        },
        (false, _) => Outcome::Failed {
            error: format!("the connector {exit}"),
        },
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "exited abnormally".into(),
    }
}

fn cut(message: &str) -> String {
    if message.len() <= MAX_ERROR {
        return message.to_owned();
    }
    let mut end = MAX_ERROR;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Ends the connector's whole process group: `SIGTERM`, then `SIGKILL` after [`KILL_GRACE`]
/// if it is still there.
fn stop(child: &mut Child) {
    kill_group(child, Signal::Term);
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            kill_group(child, Signal::Kill);
            return;
        }
        thread::sleep(POLL);
    }
    kill_group(child, Signal::Kill);
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(unix)]
fn kill_group(child: &Child, signal: Signal) {
    use rustix::process::{Pid, Signal as Sig, kill_process_group};
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        return;
    };
    let signal = match signal {
        Signal::Term => Sig::TERM,
        Signal::Kill => Sig::KILL,
    };
    // The child leads its own group (spawned with `process_group(0)`); a group already gone
    // is ESRCH, nothing to do.
    let _ = kill_process_group(pid, signal);
}

#[cfg(not(unix))]
fn kill_group(child: &Child, _signal: Signal) {
    let _ = child;
}

#[cfg(test)]
mod tests;
