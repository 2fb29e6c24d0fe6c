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
//!
//! The WAL is checkpointed beside the writer, not inside its commits (see [`spawn_checkpointer`]).

use futures::future::BoxFuture;
use sqlx::{Any, AnyPool, Transaction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

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

/// Counters of the writer since start: how many transactions carried how many ops.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub ops: AtomicU64,
    /// Ops handed to the writer so far (queued, running or done).
    pub submitted: AtomicU64,
    /// The commits (counted as in `commits`) that a completed checkpoint ran after (a passive
    /// checkpoint copies what no reader still needs; the rest goes with a later one).
    pub checkpointed: AtomicU64,
}

/// The least time between two checkpoints: commits in between fold into the next one.
const CHECKPOINT_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// Starts the writer task; it ends when the last sender (the last `Db` clone) is dropped.
pub(super) fn spawn(pool: AnyPool, stats: Arc<WriterStats>) -> Queue {
    let (queue, mut rx) = mpsc::unbounded_channel::<Box<dyn Job>>();
    let checkpoint = spawn_checkpointer(pool.clone(), stats.clone());
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            let batch = std::mem::take(&mut jobs);
            // Its own task, so an op that panics fails its batch (callers get a 500), not the writer.
            if let Err(e) = tokio::spawn(run_batch(pool.clone(), stats.clone(), batch)).await {
                tracing::error!(error = %e, "a write batch panicked; its callers were answered with an error");
            }
            // Full means a checkpoint is already due, which will cover this batch too.
            let _ = checkpoint.try_send(());
        }
    });
    queue
}

/// Checkpoints the WAL beside the writer instead of inside its commits. SQLite's automatic
/// checkpoint runs in the commit that crosses 1,000 WAL pages: that commit also copies the WAL
/// into the database file and syncs both, so whoever waits for it waits for the copy too (for a
/// 2,000-item plan, whose document is 5.6 MB, every commit). The writable connections have
/// `wal_autocheckpoint = 0`; after each batch the writer pokes this task, which runs a passive
/// checkpoint (it never blocks the writer or the readers) on a connection of its own, at most
/// one per [`CHECKPOINT_GAP`]. It ends with the writer.
fn spawn_checkpointer(pool: AnyPool, stats: Arc<WriterStats>) -> mpsc::Sender<()> {
    let (poke, mut rx) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            let upto = stats.commits.load(Ordering::SeqCst);
            match sqlx::query("pragma wal_checkpoint(passive)").execute(&pool).await {
                Ok(_) => {
                    stats.checkpointed.fetch_max(upto, Ordering::SeqCst);
                }
                // Closed on shutdown: closing the last connection checkpoints what is left.
                Err(sqlx::Error::PoolClosed) => break,
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next commit tries again"),
            }
            tokio::time::sleep(CHECKPOINT_GAP).await;
        }
    });
    poke
}

/// Batches run one after another (the loop above awaits each), so this task is SQLite's only
/// writer: no two write transactions ever meet at the file lock.
async fn run_batch(pool: AnyPool, stats: Arc<WriterStats>, mut jobs: Vec<Box<dyn Job>>) {
    stats.ops.fetch_add(jobs.len() as u64, Ordering::Relaxed);
    if jobs.len() > 1 {
        match together(&pool, &mut jobs).await {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                jobs.into_iter().for_each(|j| j.finish());
                return;
            }
            Err(e) => tracing::warn!(error = %e, ops = jobs.len(), "group commit failed; running its ops one at a time"),
        }
    }
    for mut job in jobs {
        alone(&pool, job.as_mut()).await;
        stats.commits.fetch_add(1, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use crate::error::{AppError, ErrorCode};
    use crate::storage::{Db, Tx};
    use futures::future::BoxFuture;
    use sqlx::Row;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display())).await.unwrap();
        db.write(|tx| {
            Box::pin(async move {
                sqlx::query("create table t (id integer primary key, v text not null unique)").execute(&mut **tx).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        (db, dir)
    }

    async fn values(db: &Db) -> Vec<String> {
        sqlx::query("select v from t order by v").fetch_all(db.reader()).await.unwrap().iter().map(|r| r.get("v")).collect()
    }

    /// Inserts `v`, then `also` (if any) — a second statement that may fail after the first wrote.
    fn insert(v: &str, also: Option<&str>) -> impl for<'c> Fn(&'c mut Tx) -> BoxFuture<'c, Result<i64, AppError>> + Send + 'static {
        let (v, also) = (v.to_string(), also.map(String::from));
        move |tx| {
            let (v, also) = (v.clone(), also.clone());
            Box::pin(async move {
                let id: i64 = sqlx::query("insert into t (v) values ($1) returning id").bind(&v).fetch_one(&mut **tx).await?.get("id");
                if let Some(a) = also {
                    sqlx::query("insert into t (v) values ($1)").bind(&a).execute(&mut **tx).await?;
                }
                Ok(id)
            })
        }
    }

    /// Commits leave the WAL to the checkpointer: the writable connections never checkpoint on
    /// their own, and after a large commit the checkpointer runs.
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let (db, _dir) = db().await;
        let auto: i64 = db
            .write(|tx| Box::pin(async move { Ok(sqlx::query("pragma wal_autocheckpoint").fetch_one(&mut **tx).await?.get(0)) }))
            .await
            .unwrap();
        assert_eq!(auto, 0, "no commit copies the WAL itself");
        let stats = db.write_stats().unwrap();
        // 8 MB: 2,000 WAL pages, twice SQLite's automatic threshold.
        db.write(insert(&"x".repeat(8 << 20), None)).await.unwrap();
        let committed = stats.commits.load(Ordering::SeqCst);
        let ran = async {
            while stats.checkpointed.load(Ordering::SeqCst) < committed {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), ran).await.expect("the checkpointer ran after the commit");
        assert_eq!(values(&db).await.len(), 1);
    }

    #[tokio::test]
    async fn concurrent_writes_all_land_with_their_own_results() {
        let (db, _dir) = db().await;
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { db.write(insert(&format!("v{i:03}"), None)).await.unwrap() })
            })
            .collect();
        let mut ids = vec![];
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 200, "every op got its own row id back");
        assert_eq!(values(&db).await.len(), 200);
    }

    #[tokio::test]
    async fn a_failing_op_leaves_nothing_half_written_and_spares_its_batch() {
        let (db, _dir) = db().await;
        db.write(insert("taken", None)).await.unwrap();
        // 50 ops queued behind a busy writer share one batch; every fifth writes a row, then fails
        // on a unique violation: its first row must not survive, the other ops' rows must.
        let turn = hold_writer(&db).await;
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let db = db.clone();
                let op = if i % 5 == 0 { insert(&format!("half{i:02}"), Some("taken")) } else { insert(&format!("ok{i:02}"), None) };
                tokio::spawn(async move { (i, db.write(op).await) })
            })
            .collect();
        until_submitted(&db, 52).await;
        turn.release().await;
        for t in tasks {
            let (i, r) = t.await.unwrap();
            if i % 5 == 0 {
                let e = r.unwrap_err();
                assert!(e.database && e.code == ErrorCode::AlreadyExists, "{e:?}");
            } else {
                r.unwrap();
            }
        }
        let v = values(&db).await;
        assert!(!v.iter().any(|x| x.starts_with("half")), "partial writes of failed ops were committed: {v:?}");
        assert_eq!(v.iter().filter(|x| x.starts_with("ok")).count(), 40);
    }

    #[tokio::test]
    async fn refusals_pass_through_and_a_panicking_op_fails_alone() {
        let (db, _dir) = db().await;
        let refused = db.write(|_tx| Box::pin(async { Err::<(), _>(AppError::conflict(ErrorCode::AlreadyDecided, "no")) })).await;
        assert_eq!(refused.unwrap_err().code, ErrorCode::AlreadyDecided);
        let panicked = db.write(|_tx| Box::pin(async { panic!("op bug") as Result<(), AppError> })).await;
        assert_eq!(panicked.unwrap_err().status, 500);
        db.write(insert("after", None)).await.expect("the writer survives a panicking op");
        assert_eq!(values(&db).await, vec!["after"]);
    }

    /// The writer kept busy by an op that waits to be released, so that ops pile up behind it.
    struct Held {
        release: tokio::sync::watch::Sender<bool>,
        op: tokio::task::JoinHandle<()>,
    }

    impl Held {
        async fn release(self) {
            self.release.send(true).unwrap();
            self.op.await.unwrap();
        }
    }

    /// Returns once the holding op runs (so it is alone in its batch).
    async fn hold_writer(db: &Db) -> Held {
        let (release, released) = tokio::sync::watch::channel(false);
        let (started, mut running) = tokio::sync::watch::channel(false);
        let started = Arc::new(started);
        let db = db.clone();
        let op = tokio::spawn(async move {
            db.write(move |_tx| {
                let (mut released, started) = (released.clone(), started.clone());
                Box::pin(async move {
                    let _ = started.send(true);
                    let _ = released.wait_for(|r| *r).await;
                    Ok(())
                })
            })
            .await
            .unwrap()
        });
        running.wait_for(|r| *r).await.unwrap();
        Held { release, op }
    }

    /// Waits until `n` ops have reached the writer's queue (all of them queue behind the held turn).
    async fn until_submitted(db: &Db, n: u64) {
        let stats = db.write_stats().unwrap();
        while stats.submitted.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn ops_that_arrive_together_share_a_commit() {
        let (db, _dir) = db().await;
        // Keep the writer busy so ops pile up behind it, then let it go.
        let turn = hold_writer(&db).await;
        let stats = db.write_stats().unwrap();
        // Counted so far: the table's creation and the holding op (counted when its batch began).
        let (ops_before, commits_before) = (stats.ops.load(Ordering::SeqCst), stats.commits.load(Ordering::SeqCst));
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (db, runs) = (db.clone(), runs.clone());
                let op = insert(&format!("b{i:02}"), None);
                tokio::spawn(async move {
                    db.write(move |tx| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        op(tx)
                    })
                    .await
                })
            })
            .collect();
        until_submitted(&db, 21).await;
        turn.release().await;
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(values(&db).await.len(), 20);
        assert_eq!(runs.load(Ordering::SeqCst), 20, "no op ran twice");
        assert_eq!(stats.ops.load(Ordering::SeqCst) - ops_before, 20);
        // The holding op committed once on its own after it was released.
        let commits = stats.commits.load(Ordering::SeqCst) - commits_before - 1;
        assert!(commits <= 2, "20 queued ops took {commits} commits: they should share them");
    }
}
