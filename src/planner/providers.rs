//! The providers file (`config/providers.toml`, or `NOFX_PROVIDERS`): which planners a comparison
//! asks, built-in strategies and OpenAI-compatible models. Checked at start; a mistake stops the
//! start with the file, the provider and what to change.

use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

use super::openai::OpenAiProvider;
use super::provider::{Builtin, PlannerProvider};
use super::strategy::Strategy;

/// The file shipped with NOFX, used when `NOFX_PROVIDERS` is unset.
pub const DEFAULT_PROVIDERS_TOML: &str = include_str!("../../config/providers.toml");

/// At most this many providers are asked per comparison.
pub const MAX_PROVIDERS: usize = 12;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    providers: Vec<Entry>,
}

/// One `[[providers]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: Kind,
    /// Built-ins: `waves`, `critical-path`, `risk-averse` or `pack-grouped`.
    strategy: Option<String>,
    /// `critical-path`: how many items at a time (default 4).
    lanes: Option<usize>,
    /// Models: the server's OpenAI-compatible base URL, e.g. `http://127.0.0.1:11434/v1`.
    base_url: Option<String>,
    model: Option<String>,
    /// The environment variable holding the API key (none for a local server).
    api_key_env: Option<String>,
    timeout_seconds: Option<u64>,
    #[serde(default)]
    input_price_per_1k: f64,
    #[serde(default)]
    output_price_per_1k: f64,
    /// The most items this model is asked to order (default 200).
    max_items: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    Builtin,
    Openai,
}

/// The configured providers, in the file's order (the order candidates are shown and ties broken).
#[derive(Clone)]
pub struct Providers {
    pub list: Vec<Arc<dyn PlannerProvider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.iter().map(|p| p.name())).finish()
    }
}

/// Why the providers file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("providers {source_name}: {message}")]
pub struct ProvidersError {
    pub source_name: String,
    pub message: String,
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

impl Providers {
    /// Parses and checks a providers file; `source` names it in errors. `env` reads environment
    /// variables (API keys are read when a model is asked, but a named variable must be a name).
    pub fn parse(text: &str, source: &str) -> Result<Providers, ProvidersError> {
        let fail = |message: String| ProvidersError { source_name: source.to_string(), message };
        let file: File = toml::from_str(text).map_err(|e| fail(e.message().trim().replace('\n', "; ")))?;
        if file.providers.is_empty() {
            return Err(fail("no `[[providers]]`: name at least one (the built-in `waves` strategy, say)".into()));
        }
        if file.providers.len() > MAX_PROVIDERS {
            return Err(fail(format!("{} providers; a comparison asks at most {MAX_PROVIDERS}", file.providers.len())));
        }
        let mut list: Vec<Arc<dyn PlannerProvider>> = vec![];
        let mut names = std::collections::HashSet::new();
        for e in file.providers {
            let at = |m: String| fail(format!("provider `{}`: {m}", e.name));
            if !is_name(&e.name) {
                return Err(fail(format!(
                    "`{}` is not a provider name; use lowercase letters, digits, `-`, `_` or `.` (at most 40)",
                    e.name
                )));
            }
            if !names.insert(e.name.clone()) {
                return Err(at("the name is used twice; every provider needs its own".into()));
            }
            let timeout = match e.timeout_seconds {
                None => Duration::from_secs(60),
                Some(s @ 1..=600) => Duration::from_secs(s),
                Some(s) => return Err(at(format!("timeout_seconds ({s}) must be between 1 and 600"))),
            };
            match e.kind {
                Kind::Builtin => {
                    for (key, set) in [
                        ("base_url", e.base_url.is_some()),
                        ("model", e.model.is_some()),
                        ("api_key_env", e.api_key_env.is_some()),
                        ("max_items", e.max_items.is_some()),
                    ] {
                        if set {
                            return Err(at(format!("`{key}` is for `kind = \"openai\"` providers, not built-in strategies")));
                        }
                    }
                    let strategy = match e.strategy.as_deref() {
                        Some("waves") => Strategy::Waves,
                        Some("critical-path") => Strategy::CriticalPath { lanes: e.lanes.unwrap_or(4) },
                        Some("risk-averse") => Strategy::RiskAverse,
                        Some("pack-grouped") => Strategy::PackGrouped,
                        other => {
                            return Err(at(format!(
                                "strategy {} is not one of `waves`, `critical-path`, `risk-averse`, `pack-grouped`",
                                other.map_or("(missing)".to_string(), |s| format!("`{s}`"))
                            )))
                        }
                    };
                    if e.lanes.is_some() && !matches!(strategy, Strategy::CriticalPath { .. }) {
                        return Err(at("`lanes` is for the `critical-path` strategy".into()));
                    }
                    if let Strategy::CriticalPath { lanes } = strategy {
                        if !(1..=64).contains(&lanes) {
                            return Err(at(format!("lanes ({lanes}) must be between 1 and 64")));
                        }
                    }
                    list.push(Arc::new(Builtin::named(&e.name, strategy)));
                }
                Kind::Openai => {
                    if e.strategy.is_some() || e.lanes.is_some() {
                        return Err(at("`strategy` and `lanes` are for built-in providers".into()));
                    }
                    let base_url =
                        e.base_url.as_deref().ok_or_else(|| at("`base_url` is missing (e.g. http://127.0.0.1:11434/v1)".into()))?;
                    let url = url::Url::parse(base_url).map_err(|err| at(format!("base_url `{base_url}` is not a URL: {err}")))?;
                    if !matches!(url.scheme(), "http" | "https") {
                        return Err(at(format!("base_url `{base_url}` must start with http:// or https://")));
                    }
                    let model = e.model.clone().filter(|m| !m.trim().is_empty()).ok_or_else(|| at("`model` is missing".into()))?;
                    if let Some(var) = &e.api_key_env {
                        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                            return Err(at(format!("api_key_env `{var}` is not an environment variable name")));
                        }
                    }
                    for (key, v) in [("input_price_per_1k", e.input_price_per_1k), ("output_price_per_1k", e.output_price_per_1k)] {
                        if !v.is_finite() || v < 0.0 {
                            return Err(at(format!("{key} ({v}) must be a price in US dollars, zero or more")));
                        }
                    }
                    let max_items = e.max_items.unwrap_or(200);
                    if !(1..=2_000).contains(&max_items) {
                        return Err(at(format!("max_items ({max_items}) must be between 1 and 2000")));
                    }
                    list.push(Arc::new(OpenAiProvider {
                        name: e.name.clone(),
                        planner_id: format!("{}/{model}", e.name),
                        base_url: base_url.trim_end_matches('/').to_string(),
                        model,
                        api_key_env: e.api_key_env.clone(),
                        timeout,
                        price_per_1k: (e.input_price_per_1k, e.output_price_per_1k),
                        max_items,
                        client: super::openai::client(),
                    }));
                }
            }
        }
        Ok(Providers { list })
    }

    /// The file at `path`, or the shipped one.
    pub fn load(path: Option<&std::path::Path>) -> Result<Providers, ProvidersError> {
        match path {
            None => Providers::parse(DEFAULT_PROVIDERS_TOML, "config/providers.toml (built in)"),
            Some(p) => {
                let source = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ProvidersError { source_name: source.clone(), message: format!("cannot be read: {e}") })?;
                Providers::parse(&text, &source)
            }
        }
    }

    /// The four built-in strategies (the shipped file).
    pub fn builtin() -> Providers {
        Providers::parse(DEFAULT_PROVIDERS_TOML, "built in").unwrap_or_else(|e| panic!("the shipped providers file is valid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Providers::parse(text, "p.toml").err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn the_shipped_file_names_the_four_strategies() {
        let p = Providers::builtin();
        let names: Vec<&str> = p.list.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["waves", "critical-path", "risk-averse", "pack-grouped"]);
        assert_eq!(p.list[0].planner_id(), "nofx/graph-v1", "the waves strategy is the planner behind POST /auto-planner/plan");
        assert_eq!(p.list[1].planner_id(), "nofx/critical-path");
    }

    #[test]
    fn models_are_read_with_their_settings() {
        let p = Providers::parse(
            r#"
            [[providers]]
            name = "ollama"
            kind = "openai"
            base_url = "http://127.0.0.1:11434/v1/"
            model = "llama3.1"
            timeout_seconds = 5
            input_price_per_1k = 0.5
            output_price_per_1k = 1.5
            "#,
            "p.toml",
        )
        .unwrap();
        let m = &p.list[0];
        assert_eq!(
            (m.name(), m.planner_id(), m.timeout(), m.price_per_1k()),
            ("ollama", "ollama/llama3.1", Duration::from_secs(5), (0.5, 1.5))
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert!(err("").contains("no `[[providers]]`"));
        assert!(err("[[providers]]\nname = \"a\"\nkind = \"builtin\"\nstrategy = \"fastest\"").contains("strategy `fastest` is not one of"));
        assert!(err("[[providers]]\nname = \"a\"\nkind = \"builtin\"").contains("strategy (missing)"));
        assert!(err("[[providers]]\nname = \"A B\"\nkind = \"builtin\"\nstrategy = \"waves\"").contains("`A B` is not a provider name"));
        let twice = "[[providers]]\nname = \"a\"\nkind = \"builtin\"\nstrategy = \"waves\"\n".repeat(2);
        assert!(err(&twice).contains("provider `a`: the name is used twice"));
        assert!(err("[[providers]]\nname = \"m\"\nkind = \"openai\"\nmodel = \"x\"").contains("`base_url` is missing"));
        assert!(
            err("[[providers]]\nname = \"m\"\nkind = \"openai\"\nbase_url = \"ftp://x\"\nmodel = \"x\"").contains("must start with http")
        );
        assert!(err("[[providers]]\nname = \"m\"\nkind = \"openai\"\nbase_url = \"http://x\"").contains("`model` is missing"));
        assert!(err("[[providers]]\nname = \"m\"\nkind = \"openai\"\nbase_url = \"http://x\"\nmodel = \"x\"\napi_key_env = \"MY KEY\"")
            .contains("not an environment variable name"));
        assert!(err("[[providers]]\nname = \"m\"\nkind = \"openai\"\nbase_url = \"http://x\"\nmodel = \"x\"\ninput_price_per_1k = -1.0")
            .contains("input_price_per_1k (-1) must be a price"));
        assert!(err("[[providers]]\nname = \"m\"\nkind = \"openai\"\nbase_url = \"http://x\"\nmodel = \"x\"\ntimeout_seconds = 0")
            .contains("timeout_seconds (0) must be between 1 and 600"));
        assert!(err("[[providers]]\nname = \"w\"\nkind = \"builtin\"\nstrategy = \"waves\"\nlanes = 2")
            .contains("`lanes` is for the `critical-path`"));
        assert!(err("[[providers]]\nname = \"w\"\nkind = \"builtin\"\nstrategy = \"waves\"\nmodel = \"x\"").contains("`model` is for"));
        assert!(err("[[providers]]\nname = \"w\"\nkind = \"magic\"").contains("unknown variant `magic`"));
        assert!(err("[[providers]]\nname = \"w\"\nkind = \"builtin\"\nstrategy = \"waves\"\ncolour = 1").contains("unknown field `colour`"));
    }
}
