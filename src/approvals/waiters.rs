//! Who is waiting for which request, and the expiry task's wake-up: shared between the state
//! and the approval service (its own module, so the state does not import the service).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Wakes the callers waiting on a request. A waiter subscribes *before* it reads the request,
/// so a decision committed in between still wakes it; waking drops the channel, which wakes
/// every receiver at once however many there are.
#[derive(Default)]
pub struct Waiters {
    by_id: Mutex<HashMap<i64, watch::Sender<()>>>,
}

impl Waiters {
    pub fn subscribe(&self, id: i64) -> watch::Receiver<()> {
        self.by_id.lock().expect("waiters lock").entry(id).or_insert_with(|| watch::channel(()).0).subscribe()
    }

    pub fn wake(&self, id: i64) {
        self.by_id.lock().expect("waiters lock").remove(&id);
    }

    pub fn waiting(&self) -> usize {
        self.by_id.lock().expect("waiters lock").values().map(|s| s.receiver_count()).sum()
    }
}

/// Shared between the state and the expiry task.
pub type ExpiryNotify = Arc<tokio::sync::Notify>;
