//! A planner provider behind any server that speaks the OpenAI chat-completions protocol (a hosted
//! model, Ollama, vLLM, llama.cpp): it sends the brief and a JSON schema as the response format,
//! and reads back waves of item ids with a rationale. The product checks the proposal against the
//! dependency graph and builds the plan itself (`build::build_ordered`).

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

use super::provider::{Brief, Ordering, PlannerProvider, Proposal, ProviderError, Usage};

pub struct OpenAiProvider {
    pub name: String,
    pub planner_id: String,
    /// Without a trailing slash; `/chat/completions` is added.
    pub base_url: String,
    pub model: String,
    pub api_key_env: Option<String>,
    pub timeout: Duration,
    pub price_per_1k: (f64, f64),
    pub max_items: usize,
    pub client: reqwest::Client,
}

/// One client per provider: pooled connections, a bounded connect time.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("nofx-control-plane/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// The instructions every model gets with the brief.
pub const SYSTEM_PROMPT: &str = "You order software work for an automation control plane. You get backlog items \
(with the items each depends on, the tools its steps use, labels, risk and an estimate), the tools (which need human \
approval, which change things) and the policy. Group the items into waves: every item of a wave runs in parallel, \
after every item of the waves before it. Every item must appear exactly once, and in a later wave than every item it \
depends on. Aim for a short plan that keeps sensitive and production work safe and reviewable. Answer with JSON only: \
{\"waves\": [[item ids], ...], \"rationale\": \"one or two sentences\"}.";

/// The JSON schema sent as the response format (structured outputs).
pub fn proposal_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["waves", "rationale"],
        "properties": {
            "waves": {
                "type": "array",
                "description": "Waves in execution order; each is the ids of the items that run in it.",
                "items": {"type": "array", "items": {"type": "integer"}}
            },
            "rationale": {"type": "string", "description": "Why this order, in one or two sentences."}
        }
    })
}

/// The proposal a model must answer with.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelProposal {
    pub waves: Vec<Vec<i64>>,
    pub rationale: String,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct CompletionUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The request body for `brief`.
pub fn request_body(model: &str, brief: &Brief) -> serde_json::Value {
    json!({
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": serde_json::to_string(brief).unwrap_or_default()},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "plan_proposal", "strict": true, "schema": proposal_schema()}
        }
    })
}

/// The proposal out of a chat-completions answer. A model may wrap its JSON in a Markdown fence
/// (some local servers ignore the response format); that is unwrapped, anything else is refused.
pub fn read_answer(body: &[u8]) -> Result<(ModelProposal, Option<Usage>), ProviderError> {
    let malformed = |reason: String| ProviderError::Malformed { reason };
    let completion: Completion =
        serde_json::from_slice(body).map_err(|e| malformed(format!("the answer is not a chat completion ({e})")))?;
    let usage = completion.usage.map(|u| Usage { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens });
    let content = completion
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .ok_or_else(|| malformed("the completion has no message content".into()))?;
    let text = content.trim();
    let text = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .and_then(|t| t.trim_end().strip_suffix("```"))
        .unwrap_or(text)
        .trim();
    let proposal: ModelProposal = serde_json::from_str(text).map_err(|e| malformed(format!("{e}")))?;
    Ok((proposal, usage))
}

/// At most 200 characters of an error answer, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        out.push('…');
    }
    out
}

impl PlannerProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn planner_id(&self) -> &str {
        &self.planner_id
    }
    fn price_per_1k(&self) -> (f64, f64) {
        self.price_per_1k
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn is_model(&self) -> bool {
        true
    }
    fn propose<'a>(&'a self, brief: &'a Brief) -> BoxFuture<'a, Result<Proposal, ProviderError>> {
        Box::pin(async move {
            if brief.items.len() > self.max_items {
                return Err(ProviderError::TooLarge { items: brief.items.len(), max: self.max_items });
            }
            let mut request = self.client.post(format!("{}/chat/completions", self.base_url)).timeout(self.timeout);
            if let Some(var) = &self.api_key_env {
                let key =
                    std::env::var(var).ok().filter(|k| !k.is_empty()).ok_or_else(|| ProviderError::MissingKey { variable: var.clone() })?;
                request = request.bearer_auth(key);
            }
            let answer = request.json(&request_body(&self.model, brief)).send().await.map_err(|e| {
                if e.is_timeout() {
                    ProviderError::Timeout { timeout_ms: self.timeout.as_millis() as u64 }
                } else {
                    ProviderError::Unreachable { reason: e.without_url().to_string() }
                }
            })?;
            let status = answer.status();
            let body = answer.bytes().await.map_err(|e| {
                if e.is_timeout() {
                    ProviderError::Timeout { timeout_ms: self.timeout.as_millis() as u64 }
                } else {
                    ProviderError::Unreachable { reason: e.without_url().to_string() }
                }
            })?;
            if !status.is_success() {
                return Err(ProviderError::Status { status: status.as_u16(), excerpt: excerpt(&body) });
            }
            let (proposal, usage) = read_answer(&body)?;
            Ok(Proposal { ordering: Ordering::Waves { waves: proposal.waves }, rationale: proposal.rationale, usage })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(content: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30}}))
        .unwrap()
    }

    #[test]
    fn answers_are_read_strictly() {
        let (p, u) = read_answer(&completion(r#"{"waves": [[1, 2], [3]], "rationale": "ok"}"#)).unwrap();
        assert_eq!(p, ModelProposal { waves: vec![vec![1, 2], vec![3]], rationale: "ok".into() });
        assert_eq!(u, Some(Usage { input_tokens: 120, output_tokens: 30 }));
        let fenced = read_answer(&completion("```json\n{\"waves\": [[1]], \"rationale\": \"r\"}\n```")).unwrap();
        assert_eq!(fenced.0.waves, vec![vec![1]]);
        let bad = |body: &[u8]| match read_answer(body) {
            Err(ProviderError::Malformed { reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(bad(b"<html>").contains("not a chat completion"));
        assert!(bad(br#"{"choices": []}"#).contains("no message content"));
        assert!(bad(&completion("Sure! Here is a plan: wave 1 ...")).contains("expected value"));
        assert!(bad(&completion(r#"{"waves": [["a"]], "rationale": "r"}"#)).contains("invalid type"));
        assert!(bad(&completion(r#"{"waves": [[1]]}"#)).contains("missing field `rationale`"));
        assert!(bad(&completion(r#"{"waves": [[1]], "rationale": "r", "extra": 1}"#)).contains("unknown field `extra`"));
    }

    #[test]
    fn the_request_carries_the_schema_and_the_brief() {
        let brief = Brief { policy: vec!["Budget: $25.".into()], ..Default::default() };
        let body = request_body("llama3.1", &brief);
        assert_eq!(body["model"], "llama3.1");
        assert_eq!(body["response_format"]["json_schema"]["schema"]["required"], json!(["waves", "rationale"]));
        assert!(body["messages"][1]["content"].as_str().unwrap().contains("Budget: $25."));
        assert_eq!(excerpt(&b"x".repeat(300)).chars().count(), 201);
        assert_eq!(excerpt(b"  bad\n  gateway "), "bad gateway");
    }
}
