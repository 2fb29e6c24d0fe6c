//! Gate evaluators: structural, risk, compliance and resource checks of a plan, each saying
//! allow / warn / block with reasons and remediation tips, driven by the policy file.

#[cfg(feature = "ssr")]
pub mod compliance;
#[cfg(feature = "ssr")]
mod evaluate;
#[cfg(feature = "ssr")]
pub mod input;
#[cfg(feature = "ssr")]
pub mod policy;
#[cfg(feature = "ssr")]
pub mod resource;
#[cfg(feature = "ssr")]
pub mod risk;
#[cfg(feature = "ssr")]
pub mod structural;
#[cfg(feature = "ssr")]
pub use evaluate::*;
