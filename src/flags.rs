//! Feature flags: each gates its own path, read once from the environment at start.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureFlags {
    /// `FEATURE_AUTO_PLANNER`: building plans from the backlog.
    pub auto_planner: bool,
    /// `FEATURE_PLANNER_EXECUTE`: executing plans.
    pub planner_execute: bool,
}

impl FeatureFlags {
    /// `true`, `1`, `on` and `yes` (any case) switch a flag on; anything else, or unset, is off.
    pub fn parse_value(v: Option<&str>) -> bool {
        matches!(v.map(|s| s.trim().to_ascii_lowercase()).as_deref(), Some("true" | "1" | "on" | "yes"))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        FeatureFlags {
            auto_planner: Self::parse_value(get("FEATURE_AUTO_PLANNER").as_deref()),
            planner_execute: Self::parse_value(get("FEATURE_PLANNER_EXECUTE").as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        for on in ["true", "1", "on", "ON", " yes "] {
            assert!(FeatureFlags::parse_value(Some(on)), "{on}");
        }
        for off in ["false", "0", "off", "", "enabled"] {
            assert!(!FeatureFlags::parse_value(Some(off)), "{off}");
        }
        assert!(!FeatureFlags::parse_value(None));
    }

    #[test]
    fn flags_are_independent() {
        let f = FeatureFlags::from_lookup(|k| (k == "FEATURE_AUTO_PLANNER").then(|| "1".to_string()));
        assert_eq!(f, FeatureFlags { auto_planner: true, planner_execute: false });
    }
}
