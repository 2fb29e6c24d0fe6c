//! In-process wake-ups for event readers. A signal only says "events up to id N exist: re-read";
//! the database stays the source of truth, so a missed or duplicated signal loses nothing. On
//! PostgreSQL, writers also `pg_notify` inside their transaction and every instance forwards
//! those notifications here, so clients of any instance see events written by any other.

use tokio::sync::broadcast;

#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<i64>,
}

pub const PG_CHANNEL: &str = "nofx_events";

impl Default for EventBus {
    fn default() -> Self {
        EventBus { tx: broadcast::channel(1024).0 }
    }
}

impl EventBus {
    /// Called after a commit that stored events up to `last_id`.
    pub fn published(&self, last_id: i64) {
        let _ = self.tx.send(last_id);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.tx.subscribe()
    }

    /// Readers subscribed on this process: open event-stream connections and internal listeners.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Forwards PostgreSQL notifications (from every instance) to local subscribers; reconnects
    /// with a pause if the connection drops.
    pub fn listen_postgres(&self, url: String) {
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if listener.listen(PG_CHANNEL).await.is_ok() {
                            while let Ok(n) = listener.recv().await {
                                bus.published(n.payload().parse().unwrap_or(i64::MAX));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "event listener could not connect; retrying"),
                }
                // Wake readers so nothing waits on a notification lost during the gap.
                bus.published(i64::MAX);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }
}
