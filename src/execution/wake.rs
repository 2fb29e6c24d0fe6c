//! What wakes the executor task: an approval decided on this instance, or a new lease that runs
//! out before the moment the task sleeps until. Its own module so the state can hold it without
//! importing the service.

use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::Notify;

pub struct ExecutorWake {
    notify: Notify,
    /// When the task will wake by itself (ms since the epoch); `i64::MAX` while it sweeps or has
    /// nothing to wait for, so every new lease wakes it then.
    sleeping_until: AtomicI64,
}

impl Default for ExecutorWake {
    fn default() -> Self {
        ExecutorWake { notify: Notify::new(), sleeping_until: AtomicI64::new(i64::MAX) }
    }
}

impl ExecutorWake {
    /// An approval linked to a plan was decided (or expired): its plan or step moves on.
    pub fn approval_decided(&self) {
        self.notify.notify_one();
    }

    /// A lease now runs until `expires_at`.
    pub fn leased_until(&self, expires_at: i64) {
        if expires_at < self.sleeping_until.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    pub(super) fn sweeping(&self) {
        self.sleeping_until.store(i64::MAX, Ordering::SeqCst);
    }

    pub(super) fn sleep_until(&self, at: Option<i64>) {
        self.sleeping_until.store(at.unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    pub(super) async fn notified(&self) {
        self.notify.notified().await
    }
}
