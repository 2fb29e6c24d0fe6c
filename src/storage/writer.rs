//! Group commit for SQLite.
//!
//! SQLite runs one write transaction at a time, and most of a small transaction's cost is its
//! commit: every page it touched is appended to the WAL. A decision touches the request row, its
//! status index, a log row with two index entries and an event row, so committing each one alone
//! costs several times a one-row insert. Writes that arrive while a commit is under way therefore
//! queue here, and the writer task runs the whole queue in one transaction with one commit (up
//! to [`MAX_BATCH`] ops): neighbouring rows share pages, so the pages per decision fall with the
//! batch size. An idle server still commits every op on its own at once; nothing waits for a
//! batch to fill. The same technique as PostgreSQL's and InnoDB's group commit.
//!
//! Each op is an async closure over the transaction. The contract that makes sharing a
//! transaction safe: an op either succeeds, or refuses (a 4xx error) *before* it writes, or
//! fails on a statement (an error with `database` set). On such a failure the batch is rolled
//! back and every op in it runs again alone, so one bad op never takes others with it and
//! nothing half-written is ever committed. Results reach callers only after their commit.

use futures::future::BoxFuture;
use sqlx::{Any, AnyPool, Transaction};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::error::{AppError, AppResult};

pub type Tx = Transaction<'static, Any>;

/// The most ops one commit carries: bounds how long the first op of a batch waits for the rest.
pub const MAX_BATCH: usize = 64;

/// One queued op with its caller's reply channel, its type erased.
pub(super) trait Job: Send {
    /// Runs the op in `tx` and keeps its result; false when it failed on a statement.
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, bool>;
    /// Overrides the kept result (its commit failed).
    fn fail(&mut self, e: AppError);
    /// Sends the kept result to the caller.
    fn finish(self: Box<Self>);
}

pub(super) struct Op<T, F> {
    pub op: F,
    pub result: Option<AppResult<T>>,
    pub reply: oneshot::Sender<AppResult<T>>,
}

impl<T, F> Job for Op<T, F>
where
    T: Send + 'static,
    F: for<'c> Fn(&'c mut Tx) -> BoxFuture<'c, AppResult<T>> + Send + 'static,
{
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let r = (self.op)(tx).await;
            let clean = !matches!(&r, Err(e) if e.database || e.status >= 500);
            self.result = Some(r);
            clean
        })
    }

    fn fail(&mut self, e: AppError) {
        self.result = Some(Err(e));
    }

    fn finish(self: Box<Self>) {
        let _ = self.reply.send(self.result.unwrap_or_else(|| Err(AppError::internal())));
    }
}

pub(super) type Queue = mpsc::UnboundedSender<Box<dyn Job>>;

/// Starts the writer task; it ends when the last sender (the last `Db` clone) is dropped.
pub(super) fn spawn(pool: AnyPool, gate: Arc<Mutex<()>>) -> Queue {
    let (queue, mut rx) = mpsc::unbounded_channel::<Box<dyn Job>>();
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            let batch = std::mem::take(&mut jobs);
            // Its own task, so an op that panics fails its batch (callers get a 500), not the writer.
            if let Err(e) = tokio::spawn(run_batch(pool.clone(), gate.clone(), batch)).await {
                tracing::error!(error = %e, "a write batch panicked; its callers were answered with an error");
            }
        }
    });
    queue
}

async fn run_batch(pool: AnyPool, gate: Arc<Mutex<()>>, mut jobs: Vec<Box<dyn Job>>) {
    // Transactions opened with `Db::begin_write` take the same turn.
    let _turn = gate.lock().await;
    if jobs.len() > 1 {
        match together(&pool, &mut jobs).await {
            Ok(()) => {
                jobs.into_iter().for_each(|j| j.finish());
                return;
            }
            Err(e) => tracing::warn!(error = %e, ops = jobs.len(), "group commit failed; running its ops one at a time"),
        }
    }
    for mut job in jobs {
        alone(&pool, job.as_mut()).await;
        job.finish();
    }
}

async fn together(pool: &AnyPool, jobs: &mut [Box<dyn Job>]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for job in jobs.iter_mut() {
        if !job.run(&mut tx).await {
            // Dropping `tx` rolls back everything the batch wrote.
            return Err(sqlx::Error::Protocol("an op in the batch failed on a statement".into()));
        }
    }
    tx.commit().await
}

async fn alone(pool: &AnyPool, job: &mut dyn Job) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return job.fail(e.into()),
    };
    // An op that refused or failed rolls back (drop); one that succeeded commits.
    if job.run(&mut tx).await {
        if let Err(e) = tx.commit().await {
            job.fail(e.into());
        }
    }
}
