//! Database connection and migrations: one `AnyPool` with portable SQL for SQLite and PostgreSQL.
//!
//! Why one pool type instead of a trait per backend: every query we need is expressible in the
//! common subset (`$n` binds, `returning`, `on conflict`), so one implementation tested on both
//! engines (tests run every API story on each) beats two implementations that can drift apart.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

pub mod writer;
pub use writer::Tx;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The shared handle every store function takes.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite has one writer at a time per file. Without this, concurrent write transactions
    /// meet at SQLite's lock and the losers sleep in its busy handler (1, 2, 5, 10… ms back-off),
    /// which is what made write tails long. Queuing them here instead hands the lock over the
    /// moment it is free, in arrival order. PostgreSQL locks rows itself: no gate there.
    write_gate: Option<Arc<Mutex<()>>>,
    /// SQLite's group-commit queue (see [`writer`]); `None` on PostgreSQL.
    writer: Option<writer::Queue>,
    writer_stats: Arc<writer::WriterStats>,
}

/// A write transaction opened by [`Db::begin_write`]: derefs to the sqlx transaction and holds
/// the SQLite write gate until it is committed or dropped (dropping rolls back).
pub struct WriteTx {
    // Declared first so it is dropped (rolled back) before the gate opens for the next writer.
    tx: Transaction<'static, Any>,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// A stored value that does not parse as its type: logged with where it is, answered with a
/// 500. Never replaced by a default, which would hide the corruption and act on a guess.
pub fn corrupt(table: &str, id: i64, column: &str, value: &str) -> AppError {
    tracing::error!(table, id, column, value, "a stored value does not parse");
    AppError::internal()
}

/// Milliseconds since the Unix epoch: the one time representation in storage.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating the SQLite file and its
    /// directory when missing, and turning on WAL, foreign keys and a busy timeout for SQLite.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres:// (got `{}`)", redact(url));
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A pooled SQLite connection is a file handle in this process: it cannot go stale,
            // and pinging it on every checkout costs a thread round trip per transaction.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("pragma foreign_keys = on; pragma busy_timeout = 10000; pragma synchronous = normal;").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("could not connect to {}: {e}", redact(&url)))?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file, so setting it once per start is enough.
            sqlx::query("pragma journal_mode = wal").execute(&pool).await?;
        }
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let writer_stats = Arc::new(writer::WriterStats::default());
        let writer = write_gate.as_ref().map(|gate| writer::spawn(pool.clone(), gate.clone(), writer_stats.clone()));
        Ok(Db { pool, backend, write_gate, writer, writer_stats })
    }

    /// Opens a transaction that will write. On SQLite it first waits its turn at the write gate
    /// (before taking a pooled connection, so queued writers never starve readers of
    /// connections); on PostgreSQL it is a plain transaction.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let gate = match &self.write_gate {
            Some(g) => Some(g.clone().lock_owned().await),
            None => None,
        };
        Ok(WriteTx { tx: self.pool.begin().await?, _gate: gate })
    }

    /// Runs `op` in a write transaction and commits it. On SQLite, ops that arrive while another
    /// commit is under way share the next commit (group commit, see [`writer`]); so `op` may run
    /// twice (again alone if a neighbour failed), must only touch the database, and must refuse
    /// (4xx) before it writes anything. On PostgreSQL each op has its own transaction.
    pub async fn write<T, F>(&self, op: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut Tx) -> futures::future::BoxFuture<'c, AppResult<T>> + Send + 'static,
    {
        match &self.writer {
            Some(queue) => {
                let (reply, result) = tokio::sync::oneshot::channel();
                queue.send(Box::new(writer::Op { op, result: None, reply })).map_err(|_| AppError::internal())?;
                self.writer_stats.submitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // A dropped reply means the op panicked; the writer logged it.
                result.await.map_err(|_| AppError::internal())?
            }
            None => {
                let mut tx = self.pool.begin().await?;
                let r = op(&mut tx).await;
                if r.is_ok() {
                    tx.commit().await?;
                }
                r
            }
        }
    }

    /// Group-commit counters (SQLite only).
    pub fn write_stats(&self) -> Option<&writer::WriterStats> {
        self.writer.as_ref().map(|_| self.writer_stats.as_ref())
    }

    /// Applies the migrations of this backend; safe to call on every start.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }
}

/// `sqlite://data/nofx.db` → makes sure `data/` exists and asks sqlx to create the file.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or("");
    if path != ":memory:" && !path.is_empty() {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create the database directory {}: {e}", dir.display()))?;
            }
        }
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// Hides a password in a database URL before it reaches a log or an error message.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `$1, $2, ...` starting at `start` for an `in (...)` list of `n` values.
pub fn placeholders(start: usize, n: usize) -> String {
    (start..start + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/nofx.db"), "sqlite://data/nofx.db");
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }
}
