//! `bulkhead worker`: the loop of [`super::work`] over the engine's own queue, on the SQLite
//! file or a PostgreSQL database, as the organization whose key is given.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use bulkhead::{ClaimedJob, Error, Lease, SyncOutcome, Worker};
use bulkhead_server::JobDocument;

use super::{Claimed, Options, Queue, Tally, work};
use crate::args::WorkerArgs;
use crate::db::Ctx;
use crate::error::CliError;
use crate::exec::{Beat, Outcome};
use crate::{output, serve};

/// The engine's queue, through an organization's [`Worker`].
pub(crate) struct Local {
    worker: Worker,
}

impl Local {
    pub(crate) fn new(worker: Worker) -> Self {
        Self { worker }
    }
}

/// The connector's stdin for a claimed job: the same document an HTTP worker gets from
/// `POST /api/v1/jobs/claim` (the job and its lease, the connection, the source and the
/// destination with their configurations opened, secrets included).
pub(crate) fn input(job: &ClaimedJob) -> Vec<u8> {
    serde_json::to_vec(&JobDocument::of(job)).unwrap_or_default()
}

impl Queue for Local {
    type Held = Lease;

    fn claim(&mut self) -> Result<Option<Claimed<Lease>>, CliError> {
        let Some(job) = self.worker.claim()? else {
            return Ok(None);
        };
        let label = format!(
            "job {} (workspace {}, connection {}, attempt {})",
            job.run.id,
            job.lease.workspace_id(),
            job.connection.id,
            job.lease.attempt()
        );
        Ok(Some(Claimed {
            input: input(&job),
            held: job.lease,
            label,
        }))
    }

    fn heartbeat(&mut self, held: &mut Lease) -> Result<Beat, CliError> {
        match self.worker.heartbeat(held) {
            Ok(()) => Ok(Beat::Continue),
            Err(Error::LeaseLost { .. }) => Ok(Beat::Stop),
            Err(e) => Err(e.into()),
        }
    }

    fn finish(&mut self, held: &Lease, outcome: &Outcome) -> Result<bool, CliError> {
        let outcome = match outcome {
            Outcome::Succeeded { rows, bytes } => SyncOutcome::Succeeded {
                rows: *rows,
                bytes: *bytes,
            },
            Outcome::Failed { error } => SyncOutcome::Failed {
                error: error.clone(),
                rows: 0,
                bytes: 0,
            },
            Outcome::Stopped => return Ok(false),
        };
        match self.worker.complete(held, outcome) {
            Ok(_) => Ok(true),
            Err(Error::LeaseLost { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// `worker --json`: what the workers did, in all.
#[derive(serde::Serialize)]
struct Done {
    #[serde(flatten)]
    tally: Tally,
    workers: usize,
}

/// Sets `flag` on SIGINT or SIGTERM (on a thread of its own with a small runtime).
fn on_shutdown(flag: Arc<AtomicBool>) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("could not start the signal watcher", e))?;
    thread::spawn(move || {
        runtime.block_on(bulkhead_server::shutdown_signal());
        output::note("stopping: the running jobs' connectors are stopped, their jobs retried");
        flag.store(true, Ordering::SeqCst);
    });
    Ok(())
}

pub(crate) fn run(ctx: &Ctx, db_given: bool, args: &WorkerArgs) -> Result<(), CliError> {
    if args.exec.trim().is_empty() {
        return Err(CliError::usage("--exec needs a command"));
    }
    let store = serve::store(db_given, args.database.postgres.as_deref())?;
    let (engine, what) = serve::open(ctx, &store, ctx.config()?)?;
    let mut settings = engine.job_settings();
    if let Some(lease) = args.lease {
        settings.lease = lease;
    }
    if let Some(backoff) = args.backoff {
        settings.backoff_base = backoff;
        settings.backoff_max = settings.backoff_max.max(backoff);
    }
    engine.set_job_settings(settings.clone())?;
    let lease = settings.lease;
    let options = Options {
        command: args.exec.clone(),
        // Three heartbeats a lease: one lost beat never costs the job.
        heartbeat_every: args
            .heartbeat
            .unwrap_or(lease / 3)
            .max(Duration::from_millis(10)),
        idle_wait: args.poll,
        drain: args.drain,
        max_jobs: args.max_jobs,
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    on_shutdown(Arc::clone(&shutdown))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("bulkhead-worker-{}", std::process::id()));
    // The key is checked before anything runs: a worker key, or an org key.
    ctx.worker(&engine, &name)?;
    output::note(&format!(
        "worker {name}: {} at once on {what}; stop with Ctrl-C or SIGTERM",
        args.workers
    ));
    let results: Vec<Result<Tally, CliError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..args.workers)
            .map(|n| {
                let worker = ctx.worker(
                    &engine,
                    &if args.workers == 1 {
                        name.clone()
                    } else {
                        format!("{name}/{n}")
                    },
                );
                let options = &options;
                let shutdown = &*shutdown;
                s.spawn(move || {
                    let mut queue = Local::new(worker?);
                    work(&mut queue, options, shutdown, &mut io::stderr())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CliError::usage("a worker thread panicked")))
            })
            .collect()
    });
    let mut tally = Tally::default();
    for result in results {
        tally = tally.plus(result?);
    }
    if ctx.json {
        output::json(&Done {
            tally,
            workers: usize::from(args.workers),
        })
    } else {
        output::text(&format!(
            "{} succeeded, {} failed, {} stopped, {} refused\n",
            tally.succeeded, tally.failed, tally.stopped, tally.fenced
        ))
    }
}
