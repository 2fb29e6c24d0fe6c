//! Following events: who may, and from where. The stream door (SSE) and any other consumer get
//! a [`Subscription`] here, which checks the caller once and then reads batches for it.

use tokio::sync::broadcast;

use super::model::Event;
use super::store;
use crate::auth::model::{Permission, Principal};
use crate::error::AppResult;
use crate::state::AppState;

/// Events after `after`, as they are committed.
pub struct Subscription {
    /// "Something new was committed" signals; the events themselves are read from the table.
    pub signals: broadcast::Receiver<i64>,
    pub after: i64,
}

/// Starts following events after `after` (replaying what was missed), or from now on. Signals
/// are subscribed to before the start point is read, so nothing committed in between is missed.
pub async fn subscribe(state: &AppState, who: &Principal, after: Option<i64>) -> AppResult<Subscription> {
    who.require(Permission::Read)?;
    let signals = state.events.subscribe();
    let after = match after {
        Some(id) => id.max(0),
        None => store::latest_id(&state.db).await?,
    };
    Ok(Subscription { signals, after })
}

impl Subscription {
    /// The next events after the last one read (at most `limit`), oldest first.
    pub async fn batch(&mut self, state: &AppState, limit: i64) -> AppResult<Vec<Event>> {
        let batch = store::list_after(&state.db, self.after, limit).await?;
        if let Some(last) = batch.last() {
            self.after = last.id;
        }
        Ok(batch)
    }
}
