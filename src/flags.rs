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
    /// `true`, `1`, `on` and `yes` (any case) switch a flag on; `false`, `0`, `off`, `no`, blank
    /// or unset leave it off; anything else is a mistake, refused with what to write instead.
    pub fn parse_value(v: Option<&str>) -> Result<bool, String> {
        match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("true" | "1" | "on" | "yes") => Ok(true),
            None | Some("" | "false" | "0" | "off" | "no") => Ok(false),
            Some(other) => Err(format!("`{other}` is neither on (true, 1, on, yes) nor off (false, 0, off, no)")),
        }
    }

    /// Both flags; an error names the variable that is malformed.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let flag = |name: &str| Self::parse_value(get(name).as_deref()).map_err(|e| format!("{name}: {e}"));
        Ok(FeatureFlags { auto_planner: flag("FEATURE_AUTO_PLANNER")?, planner_execute: flag("FEATURE_PLANNER_EXECUTE")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        for on in ["true", "1", "on", "ON", " yes "] {
            assert_eq!(FeatureFlags::parse_value(Some(on)), Ok(true), "{on}");
        }
        for off in ["false", "0", "off", "", "No"] {
            assert_eq!(FeatureFlags::parse_value(Some(off)), Ok(false), "{off}");
        }
        assert_eq!(FeatureFlags::parse_value(None), Ok(false));
        assert!(FeatureFlags::parse_value(Some("enabled")).unwrap_err().contains("enabled"));
    }

    #[test]
    fn flags_are_independent() {
        let f = FeatureFlags::from_lookup(|k| (k == "FEATURE_AUTO_PLANNER").then(|| "1".to_string())).unwrap();
        assert_eq!(f, FeatureFlags { auto_planner: true, planner_execute: false });
    }
}
