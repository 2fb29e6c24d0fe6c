//! Running plans: the executor's state machine (`model`), pure and shared with the browser.

pub mod model;
