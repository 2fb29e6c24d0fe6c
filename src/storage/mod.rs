//! Database connection and migrations: one `AnyPool` with portable SQL for SQLite and PostgreSQL.
//!
//! Why one pool type instead of a trait per backend: every query we need is expressible in the
//! common subset (`$n` binds, `returning`, `on conflict`), so one implementation tested on both
//! engines (tests run every API story on each) beats two implementations that can drift apart.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub mod writer;
pub use writer::Tx;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The shared handle every store function takes.
///
/// **One write path.** Every write is an op handed to [`Db::write`]; there is no other way to
/// reach a connection that may write. Reads go to [`Db::reader`], a pool whose connections
/// refuse writes (`pragma query_only` on SQLite, `default_transaction_read_only` on
/// PostgreSQL), so a store function that tried to write through it fails in every test that
/// reaches it instead of silently bypassing the SQLite writer.
#[derive(Clone, Debug)]
pub struct Db {
    pub backend: Backend,
    /// Read-only connections.
    reader: AnyPool,
    /// Connections that write; only [`Db::write`] and the SQLite writer task use them.
    writable: AnyPool,
    /// SQLite's group-commit queue (see [`writer`]), its only writer; `None` on PostgreSQL,
    /// which locks rows itself.
    writer: Option<writer::Queue>,
    writer_stats: Arc<writer::WriterStats>,
}

/// A stored value that does not parse as its type: logged with where it is, answered with a
/// 500. Never replaced by a default, which would hide the corruption and act on a guess.
pub fn corrupt(table: &str, id: i64, column: &str, value: &str) -> AppError {
    tracing::error!(table, id, column, value, "a stored value does not parse");
    AppError::internal()
}

/// A stored text column parsed into its model type by `parse`; a value that does not parse is
/// [`corrupt`]. Row types (`#[derive(sqlx::FromRow)]`) use it in their `TryFrom` conversions.
pub fn column<T>(table: &str, id: i64, column: &str, value: &str, parse: impl FnOnce(&str) -> Option<T>) -> AppResult<T> {
    parse(value).ok_or_else(|| corrupt(table, id, column, value))
}

/// A stored JSON column parsed into its model type; a value that does not parse is [`corrupt`].
pub fn json_column<T: serde::de::DeserializeOwned>(table: &str, id: i64, column: &str, value: &str) -> AppResult<T> {
    serde_json::from_str(value).map_err(|_| corrupt(table, id, column, value))
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
        let pool = |read_only: bool, connections: u32| {
            AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10))
                // A pooled SQLite connection is a file handle in this process: it cannot go stale,
                // and pinging it on every checkout costs a thread round trip per transaction.
                .test_before_acquire(backend == Backend::Postgres)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        match (backend, read_only) {
                            (Backend::Sqlite, false) => {
                                // Checkpoints run beside the writer (see `writer::spawn_checkpointer`).
                                conn.execute(
                                    "pragma foreign_keys = on; pragma busy_timeout = 10000; pragma synchronous = normal; pragma wal_autocheckpoint = 0;",
                                )
                                .await?;
                            }
                            (Backend::Sqlite, true) => {
                                conn.execute("pragma foreign_keys = on; pragma busy_timeout = 10000; pragma query_only = on;").await?;
                            }
                            (Backend::Postgres, true) => {
                                conn.execute("set default_transaction_read_only = on").await?;
                            }
                            (Backend::Postgres, false) => {}
                        }
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        let unreachable = |e: sqlx::Error| anyhow::anyhow!("could not connect to {}: {e}", redact(&url));
        // SQLite writes one transaction at a time (the writer task, plus its checkpointer), yet
        // with only two writable connections approval decisions ran about 40 % slower than with
        // eight (benches/approvals.rs, docs/benchmarks.md); most likely the next batch waited
        // for a connection the pool had not made ready again. PostgreSQL writes concurrently.
        let writable = match backend {
            Backend::Sqlite => pool(false, 8),
            Backend::Postgres => pool(false, 10),
        }
        .await
        .map_err(unreachable)?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file, so setting it once per start is enough.
            sqlx::query("pragma journal_mode = wal").execute(&writable).await?;
        }
        let reader = match backend {
            Backend::Sqlite => pool(true, 8),
            Backend::Postgres => pool(true, 10),
        }
        .await
        .map_err(unreachable)?;
        let writer_stats = Arc::new(writer::WriterStats::default());
        let writer = (backend == Backend::Sqlite).then(|| writer::spawn(writable.clone(), writer_stats.clone()));
        Ok(Db { backend, reader, writable, writer, writer_stats })
    }

    /// The read-only pool every query that only reads runs on.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Closes both pools (the CLI, before it exits).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writable.close().await;
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
                let mut tx = self.writable.begin().await?;
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
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.writable).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.writable).await?,
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
