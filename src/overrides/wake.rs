//! What wakes the override task: a decided review or a new override. Its own type so the state
//! can hold it (one `FromRef` per field type) without importing the service.

#[derive(Default)]
pub struct OverridesWake(tokio::sync::Notify);

impl OverridesWake {
    pub fn notify_one(&self) {
        self.0.notify_one()
    }

    pub async fn notified(&self) {
        self.0.notified().await
    }
}
