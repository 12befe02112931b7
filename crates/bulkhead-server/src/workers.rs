//! The router's own engine threads: a fixed set of blocking threads fed by one queue.
//!
//! Engine calls block on storage, so they never run on the async workers. tokio's blocking
//! pool would do, but it starts a thread per call in flight (up to 512) and wakes one for every
//! call: under 64 connections that is 64 threads taking turns at SQLite's four readers, and two
//! futex wake-ups and a context switch for each request, which cost more than the request's
//! own SQL. A few threads that take the next call from the queue as soon as they finish one
//! sleep only when there is nothing to do, and are woken only then.
//!
//! The bound on calls in flight stays with [`crate::limits`] (its permits are taken before a
//! call is queued and held until it returns). Dropping the router closes the queue: the
//! threads finish the calls already queued, then exit.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::problem::Problem;

type Job = Box<dyn FnOnce() + Send>;

/// The queue and the count of threads waiting on it.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// A fixed set of engine threads; see the module docs.
pub(crate) struct Workers {
    shared: Arc<Shared>,
}

impl Workers {
    /// Starts `threads` engine threads (at least one). A thread that cannot be started is
    /// simply not there; with none at all, calls fall back to tokio's blocking pool.
    pub(crate) fn start(threads: usize) -> Option<Self> {
        let shared = Arc::new(Shared::default());
        let mut started = 0;
        for n in 0..threads.max(1) {
            let mine = Arc::clone(&shared);
            if std::thread::Builder::new()
                .name(format!("bulkhead-engine-{n}"))
                .spawn(move || work(&mine))
                .is_ok()
            {
                started += 1;
            }
        }
        (started > 0).then_some(Self { shared })
    }

    /// Runs `call` on an engine thread and waits for its answer; a call that panicked is a
    /// 500 with no detail.
    pub(crate) async fn run<T, F>(&self, call: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Problem> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.push(Box::new(move || {
            // The receiver is gone only when the request was dropped (timed out): nobody
            // waits for the answer any more.
            let _ = tx.send(call());
        }));
        rx.await.unwrap_or_else(|_| {
            tracing::error!(target: "bulkhead::server", "an engine call panicked or was cancelled");
            Err(Problem::internal())
        })
    }

    fn push(&self, job: Job) {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.jobs.push_back(job);
        // A busy thread takes the job when it finishes its own: wake one only if one sleeps.
        let wake = queue.idle > 0;
        drop(queue);
        if wake {
            self.shared.ready.notify_one();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.shared.ready.notify_all();
    }
}

/// One engine thread: the next job, until the queue is closed and empty.
fn work(shared: &Shared) {
    let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            drop(queue);
            // A panic is the call's own (its answer's sender is dropped, so its request gets a
            // 500); the thread goes on with the next one.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        if queue.closed {
            return;
        }
        queue.idle += 1;
        queue = shared
            .ready
            .wait(queue)
            .unwrap_or_else(PoisonError::into_inner);
        queue.idle -= 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn calls_run_on_the_engine_threads_and_a_panic_is_a_500_that_spares_the_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let workers = Workers::start(1).unwrap();
        runtime.block_on(async {
            let failed = workers
                .run(|| -> Result<(), Problem> { panic!("a broken call") })
                .await;
            assert_eq!(
                failed.unwrap_err().status(),
                StatusCode::INTERNAL_SERVER_ERROR
            );
            let thread = workers
                .run(|| Ok(std::thread::current().name().map(str::to_owned)))
                .await
                .unwrap();
            assert_eq!(thread.as_deref(), Some("bulkhead-engine-0"));
        });
    }
}
