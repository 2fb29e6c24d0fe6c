//! Comparing planners: ask every configured provider at once for the same request (each within
//! its timeout), build and gate a plan from each proposal by the same rules as any plan, score
//! them, and store the comparison with its event and audit record in one transaction. Keeping a
//! candidate makes it a plan. The caller's permission and the flag are checked first.

use futures::future::join_all;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::model::*;
use super::store::{self, CandidateRecord, ComparisonRecord};
use crate::audit::{Action, Actor, Entry, Links};
use crate::auth::model::{Permission, Principal};
use crate::backlog::model::BacklogItem;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::{EventKind, NewEvent, Subject};
use crate::plan::model::{EvaluationFilter, Plan, PlanRequest, PlanStatus};
use crate::planner::build::{build_ordered, planned_items};
use crate::planner::provider::{Brief, BriefItem, BriefTool, PlannerProvider, Proposal, ProviderError};
use crate::planner::service::{self as planner, AnswerForm, IdempotencyClaim, Loaded, Origin, StoredPlan};
use crate::state::AppState;
use crate::storage::now_ms;

const COMPARE_ENDPOINT: &str = "POST /api/auto-planner/compare";

/// What comparing answered: a new comparison, or the stored answer to an earlier request with the
/// same `Idempotency-Key` and body.
pub enum Compared {
    Created { id: i64, body: String },
    Replayed { status: u16, body: String },
}

/// Compares from a JSON body, honouring an `Idempotency-Key` as planning does.
pub async fn compare_json(state: &AppState, who: &Principal, body: &[u8], idempotency_key: Option<&str>) -> AppResult<Compared> {
    who.require(Permission::CreatePlan)?;
    planner::require_auto_planner(state)?;
    let request: CompareRequest = planner::parse_json(body)?;
    let Some(key) = idempotency_key else {
        let (id, body) = compare(state, who, &request, None).await?;
        return Ok(Compared::Created { id, body });
    };
    crate::idempotency::validate_key(key)?;
    let claim = IdempotencyClaim { principal: who.identity(), endpoint: COMPARE_ENDPOINT, key: key.to_string() };
    match crate::idempotency::claim(&state.db, &claim.principal, claim.endpoint, &claim.key, &crate::idempotency::fingerprint(body)).await?
    {
        crate::idempotency::Claim::Replay { status, body } => Ok(Compared::Replayed { status, body }),
        crate::idempotency::Claim::Fresh => match compare(state, who, &request, Some(&claim)).await {
            Ok((id, body)) => Ok(Compared::Created { id, body }),
            Err(e) => {
                crate::idempotency::release(&state.db, &claim.principal, claim.endpoint, &claim.key).await?;
                Err(e)
            }
        },
    }
}

/// The providers to ask: the named ones (in the file's order), or all.
fn select(state: &AppState, names: Option<&[String]>) -> AppResult<Vec<Arc<dyn PlannerProvider>>> {
    let all = &state.providers.list;
    let Some(names) = names else { return Ok(all.clone()) };
    if names.is_empty() {
        return Err(AppError::unprocessable(
            ErrorCode::UnknownProvider,
            "`providers` is empty; name at least one provider, or leave the field out to ask all of them.",
        ));
    }
    let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
    let unknown: Vec<&String> = names.iter().filter(|n| !known.contains(&n.as_str())).collect();
    if !unknown.is_empty() {
        let list = unknown.iter().map(|n| format!("`{}`", clip(n, 40))).collect::<Vec<_>>().join(", ");
        return Err(AppError::unprocessable(
            ErrorCode::UnknownProvider,
            format!(
                "No provider is configured as {list}; this server has {}.",
                known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
        )
        .with("providers", known.iter().map(|k| k.to_string()).collect::<Vec<_>>()));
    }
    let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
    Ok(all.iter().filter(|p| wanted.contains(p.name())).cloned().collect())
}

/// What the models are told: the planned items with their dependencies inside the plan, the
/// tools they use, and the policy in sentences.
fn brief(state: &AppState, loaded: &Loaded, request: &PlanRequest, planned: &[&BacklogItem]) -> Brief {
    let ids: HashSet<i64> = planned.iter().map(|i| i.id).collect();
    let mut tool_ids: Vec<&str> = planned.iter().flat_map(|i| i.tools.iter().map(String::as_str)).collect();
    tool_ids.sort_unstable();
    tool_ids.dedup();
    let policy = &state.policy;
    let mut sentences = vec![
        format!("Budget: ${:.2} for the whole plan.", request.budget_usd.unwrap_or(policy.resource.budget_usd)),
        format!("The critical path should stay under {} minutes.", policy.resource.max_duration_minutes),
        "Steps whose tool needs approvals wait for human reviewers before they run.".to_string(),
    ];
    sentences.extend(policy.compliance.rules.iter().map(|r| r.description.clone()).filter(|d| !d.is_empty()));
    Brief {
        items: planned
            .iter()
            .map(|i| BriefItem {
                id: i.id,
                title: i.title.clone(),
                pack: i.pack_name.clone(),
                depends_on: i.depends_on.iter().copied().filter(|d| ids.contains(d)).collect(),
                tools: i.tools.clone(),
                labels: i.labels.clone(),
                risk: i.risk.as_str().to_string(),
                estimate_minutes: i.estimate_minutes,
            })
            .collect(),
        tools: tool_ids
            .into_iter()
            .filter_map(|t| loaded.tools.get(t))
            .map(|t| BriefTool { id: t.id.clone(), sensitive: t.sensitive, mutating: t.mutating, required_approvals: t.required_approvals })
            .collect(),
        policy: sentences,
    }
}

/// At most `n` characters of `s` (an ellipsis marks the cut).
fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The `kind` tag of a serialised error enum.
fn kind_of<T: serde::Serialize>(e: &T) -> String {
    serde_json::to_value(e).ok().and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from)).unwrap_or_else(|| "error".into())
}

/// One provider's answer made a candidate: a gated plan, or the reason there is none.
#[allow(clippy::too_many_arguments)]
fn candidate(
    index: usize,
    state: &AppState,
    loaded: &Loaded,
    request: &PlanRequest,
    who: &Principal,
    provider: &dyn PlannerProvider,
    answer: Result<Proposal, ProviderError>,
    latency: Duration,
    now: i64,
) -> AppResult<(CandidateRecord, Option<CandidateFigures>)> {
    let mut c = Candidate {
        index,
        provider: provider.name().to_string(),
        planner: provider.planner_id().to_string(),
        status: CandidateStatus::Failed,
        error: None,
        rationale: String::new(),
        latency_ms: latency.as_millis() as i64,
        input_tokens: None,
        output_tokens: None,
        score: None,
        figures: None,
        parts: None,
        has_plan: false,
    };
    let record = |candidate: Candidate| CandidateRecord { candidate, document: None };
    let proposal = match answer {
        Ok(p) => p,
        Err(e) => {
            c.status = if matches!(e, ProviderError::Timeout { .. }) { CandidateStatus::TimedOut } else { CandidateStatus::Failed };
            c.error = Some(CandidateError { kind: kind_of(&e), message: e.to_string() });
            return Ok((record(c), None));
        }
    };
    c.rationale = clip(&proposal.rationale, 2_000);
    let (price_in, price_out) = provider.price_per_1k();
    let token_cost_usd =
        proposal.usage.map_or(0.0, |u| u.input_tokens as f64 / 1000.0 * price_in + u.output_tokens as f64 / 1000.0 * price_out);
    c.input_tokens = proposal.usage.map(|u| u.input_tokens as i64);
    c.output_tokens = proposal.usage.map(|u| u.output_tokens as i64);
    let draft = match build_ordered(provider.planner_id(), &loaded.input(request, state), &proposal.ordering) {
        Ok(d) => d,
        Err(e) => {
            c.status = CandidateStatus::Invalid;
            c.error = Some(CandidateError { kind: kind_of(&e), message: e.to_string() });
            return Ok((record(c), None));
        }
    };
    let plan = planner::judge(state, loaded, request, draft, who, now);
    let figures = figures_of(&plan, token_cost_usd);
    c.status = CandidateStatus::Valid;
    c.has_plan = true;
    let document = Some(serde_json::to_string(&plan).map_err(|_| AppError::internal())?);
    Ok((CandidateRecord { candidate: c, document }, Some(figures)))
}

/// A gated plan's figures.
pub fn figures_of(plan: &Plan, token_cost_usd: f64) -> CandidateFigures {
    let makespan = plan.estimate.duration_p50_ms;
    CandidateFigures {
        steps: plan.steps.len() as i64,
        waves: plan.waves.len() as i64,
        makespan_ms: makespan,
        plan_cost_usd: plan.estimate.cost_p50_usd,
        token_cost_usd,
        parallelism: if makespan > 0 { ((plan.estimate.work_p50_ms as f64 / makespan as f64) * 100.0).round() / 100.0 } else { 0.0 },
        approvals_needed: plan.steps.iter().map(|s| s.required_approvals).sum(),
        verdict_counts: plan.verdict_counts,
        blocked: plan.status == PlanStatus::Blocked,
    }
}

/// Asks, builds, gates, scores and stores; answers with the comparison's id and JSON.
async fn compare(
    state: &AppState,
    who: &Principal,
    request: &CompareRequest,
    claim: Option<&IdempotencyClaim>,
) -> AppResult<(i64, String)> {
    let providers = select(state, request.providers.as_deref())?;
    let plan_request = request.plan_request();
    let loaded = Arc::new(planner::load(state, who, &plan_request).await?);
    let planned = planned_items(&loaded.input(&plan_request, state));
    let item_ids: Vec<i64> = planned.iter().map(|i| i.id).collect();
    let brief =
        Arc::new(if providers.iter().any(|p| p.is_model()) { brief(state, &loaded, &plan_request, &planned) } else { Brief::default() });
    let mut pack_ids: Vec<i64> = planned.iter().map(|i| i.pack_id).collect();
    pack_ids.sort_unstable();
    pack_ids.dedup();

    // Every provider at once, each within its own timeout.
    let answers = join_all(providers.iter().map(|p| {
        let brief = brief.clone();
        async move {
            let started = Instant::now();
            let answer = match tokio::time::timeout(p.timeout(), p.propose(&brief)).await {
                Ok(a) => a,
                Err(_) => Err(ProviderError::Timeout { timeout_ms: p.timeout().as_millis() as u64 }),
            };
            (answer, started.elapsed())
        }
    }))
    .await;

    // Building and gating is CPU work: one blocking task per candidate, side by side.
    let now = now_ms();
    let built = join_all(answers.into_iter().zip(providers.iter().cloned()).enumerate().map(|(index, ((answer, latency), provider))| {
        let (state, loaded, plan_request, who) = (state.clone(), loaded.clone(), plan_request.clone(), who.clone());
        tokio::task::spawn_blocking(move || candidate(index, &state, &loaded, &plan_request, &who, provider.as_ref(), answer, latency, now))
    }))
    .await;
    let mut candidates = vec![];
    let mut figures = vec![];
    for b in built {
        let (c, f) = b.map_err(|e| {
            tracing::error!(error = %e, "building a candidate panicked");
            AppError::internal()
        })??;
        candidates.push(c);
        figures.push(f);
    }
    let scores = score(&figures.iter().map(Option::as_ref).collect::<Vec<_>>(), &state.policy.comparison.weights);
    for ((r, f), s) in candidates.iter_mut().zip(figures).zip(&scores) {
        r.candidate.figures = f;
        r.candidate.score = s.map(|s| s.0);
        r.candidate.parts = s.map(|s| s.1);
    }
    let best_index = best(&candidates.iter().map(|r| r.candidate.score).collect::<Vec<_>>());

    let summary = format!(
        "Compared {} planner{} on {} item{}: {}.",
        candidates.len(),
        if candidates.len() == 1 { "" } else { "s" },
        item_ids.len(),
        if item_ids.len() == 1 { "" } else { "s" },
        match best_index {
            Some(b) => format!("best {} ({} points)", candidates[b].candidate.provider, candidates[b].candidate.score.unwrap_or(0.0)),
            None => "no valid candidate".to_string(),
        }
    );
    let comparison = Comparison {
        id: 0,
        request: request.clone(),
        item_count: item_ids.len() as i64,
        best: best_index,
        chosen: None,
        plan_id: None,
        chosen_by: None,
        chosen_at: None,
        created_by: who.identity(),
        created_at: now,
        candidates: candidates.iter().map(|r| r.candidate.clone()).collect(),
    };
    let payload = json!({
        "best": best_index, "best_provider": best_index.map(|b| candidates[b].candidate.provider.clone()),
        "candidates": candidates.iter().map(|r| &r.candidate)
            .map(|c| json!({"provider": c.provider, "planner": c.planner, "status": c.status, "score": c.score})).collect::<Vec<_>>(),
        "item_ids": item_ids.iter().take(100).collect::<Vec<_>>(),
    });
    let record = Arc::new((
        ComparisonRecord {
            request: serde_json::to_string(request).map_err(|_| AppError::internal())?,
            item_count: item_ids.len() as i64,
            best_index,
            created_by: who.identity(),
            candidates,
        },
        comparison,
    ));
    let actor = Actor::of(who);
    let links = Links::default().with_items(item_ids.iter().copied(), pack_ids);
    let entry = Arc::new((links, summary, payload));
    let claim = claim.map(|c| Arc::new((c.principal.clone(), c.endpoint, c.key.clone())));
    let backend = state.db.backend;
    let (id, body, ids) = state
        .db
        .write(move |tx| {
            let (record, entry, claim, actor) = (record.clone(), entry.clone(), claim.clone(), actor.clone());
            Box::pin(async move {
                let (record, comparison) = &*record;
                let id = store::insert(tx, record, now).await?;
                let body = serde_json::to_string(&Comparison { id, ..comparison.clone() }).map_err(|_| AppError::internal())?;
                let (links, summary, payload) = &*entry;
                let mut payload = payload.clone();
                payload["comparison_id"] = json!(id);
                let audit = Entry::new(&actor, Action::ComparisonCreated, format!("comparison:{id}"), links.clone(), summary.clone())
                    .fields(payload.clone());
                let event = NewEvent { kind: EventKind::ComparisonReady, subject: Subject::Comparison(id), payload };
                let ids = crate::audit::store::append_with_events(tx, backend, &actor, vec![audit], &[event], now).await?;
                if let Some(c) = claim.as_deref() {
                    crate::idempotency::complete(&mut **tx, &c.0, c.1, &c.2, 201, &body).await?;
                }
                Ok((id, body, ids))
            })
        })
        .await?;
    if let Some(last) = ids.last() {
        state.events.published(*last);
    }
    tracing::info!(comparison = id, by = %who.identity(), "comparison stored");
    Ok((id, body))
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> AppResult<Comparison> {
    who.require(Permission::Read)?;
    store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found(&format!("Comparison {id}")))
}

/// The comparison plan `plan_id` was kept from, if any.
pub async fn comparison_of_plan(state: &AppState, who: &Principal, plan_id: i64) -> AppResult<Option<i64>> {
    who.require(Permission::Read)?;
    store::of_plan(&state.db, plan_id).await
}

pub async fn list(state: &AppState, who: &Principal, limit: i64) -> AppResult<Vec<Comparison>> {
    who.require(Permission::Read)?;
    store::list(&state.db, limit.clamp(1, 200)).await
}

/// Candidate `index`'s gated plan (not stored as a plan: its id is 0).
pub async fn candidate_plan(state: &AppState, who: &Principal, id: i64, index: usize) -> AppResult<Plan> {
    let c = get(state, who, id).await?;
    let cand = c.candidates.get(index).ok_or_else(|| AppError::not_found(&format!("Candidate {index} of comparison {id}")))?;
    if !cand.has_plan {
        return Err(not_valid(id, cand));
    }
    plan_of(state, &c, index).await
}

/// The gated plan of candidate `index` (one with a plan) of a comparison the caller has read.
pub async fn plan_of(state: &AppState, c: &Comparison, index: usize) -> AppResult<Plan> {
    store::candidate_plan(&state.db, c.id, index).await?.ok_or_else(AppError::internal)
}

/// Every valid candidate's plan, by index (for the side-by-side view).
pub async fn candidate_plans(state: &AppState, who: &Principal, id: i64) -> AppResult<Vec<(usize, Plan)>> {
    who.require(Permission::Read)?;
    store::candidate_plans(&state.db, id).await
}

pub async fn evaluations(
    state: &AppState,
    who: &Principal,
    id: i64,
    candidate: Option<usize>,
    f: &EvaluationFilter,
) -> AppResult<Vec<CandidateEvaluation>> {
    let c = get(state, who, id).await?;
    if let Some(i) = candidate {
        if i >= c.candidates.len() {
            return Err(AppError::not_found(&format!("Candidate {i} of comparison {id}")));
        }
    }
    store::evaluations(&state.db, id, candidate, f).await
}

fn not_valid(id: i64, c: &Candidate) -> AppError {
    let why = c.error.as_ref().map(|e| format!(": {}", e.message)).unwrap_or_default();
    AppError::unprocessable(
        ErrorCode::CandidateNotValid,
        format!(
            "Candidate {} of comparison {id} ({}) is {}{why} It has no plan to keep; keep a valid candidate.",
            c.index,
            c.provider,
            c.status.label()
        ),
    )
}

/// Keeps candidate `index` of comparison `id` as a plan (stored as planned, by `who`, now):
/// once per comparison, only a valid candidate, and only while the items and tools it was made
/// from are unchanged.
pub async fn choose(state: &AppState, who: &Principal, id: i64, index: usize) -> AppResult<StoredPlan> {
    who.require(Permission::CreatePlan)?;
    planner::require_auto_planner(state)?;
    let c = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found(&format!("Comparison {id}")))?;
    let cand = c.candidates.get(index).ok_or_else(|| AppError::not_found(&format!("Candidate {index} of comparison {id}")))?;
    if let Some(chosen) = c.chosen {
        let kept = &c.candidates[chosen];
        let plan = c.plan_id.map(|p| format!(" as plan {p}")).unwrap_or_default();
        return Err(AppError::conflict(
            ErrorCode::AlreadyChosen,
            format!("Comparison {id} already kept candidate {chosen} ({}){plan}; open that plan, or compare again.", kept.provider),
        )
        .with("plan_id", c.plan_id));
    }
    if !cand.has_plan {
        return Err(not_valid(id, cand));
    }
    let mut plan = plan_of(state, &c, index).await?;
    stale_check(state, &plan, c.created_at).await?;
    plan.created_by = who.identity();
    plan.created_at = now_ms();
    planner::persist(state, who, plan, None, AnswerForm::Full, Some(Origin { comparison_id: id, candidate: index })).await
}

/// Refuses when an item or tool the plan was made from changed (or went) after `since`.
async fn stale_check(state: &AppState, plan: &Plan, since: i64) -> AppResult<()> {
    let ids: Vec<i64> = plan.items.iter().map(|i| i.id).collect();
    let (items, tools) =
        futures::try_join!(crate::backlog::store::get_items(&state.db, &ids), crate::backlog::store::list_tools(&state.db))?;
    let updated: std::collections::HashMap<i64, i64> = items.iter().map(|i| (i.id, i.updated_at)).collect();
    let mut changed: Vec<String> = vec![];
    for id in &ids {
        match updated.get(id) {
            None => changed.push(format!("item {id} was deleted")),
            Some(&at) if at > since => changed.push(format!("item {id} changed")),
            _ => {}
        }
    }
    let used: HashSet<&str> = plan.steps.iter().map(|s| s.tool.as_str()).collect();
    for t in tools.iter().filter(|t| used.contains(t.id.as_str()) && t.updated_at > since) {
        changed.push(format!("tool `{}` changed", t.id));
    }
    if changed.is_empty() {
        return Ok(());
    }
    let more = if changed.len() > 5 { format!(" and {} more", changed.len() - 5) } else { String::new() };
    changed.truncate(5);
    Err(AppError::conflict(
        ErrorCode::StaleComparison,
        format!("Since this comparison was made, {}{more}; compare again so the plan matches the backlog.", changed.join(", ")),
    ))
}

/// Compares from the browser's form (no idempotency key: a double click makes two comparisons,
/// as it would make two plans); the new comparison's id.
pub async fn compare_request(state: &AppState, who: &Principal, request: &CompareRequest) -> AppResult<i64> {
    compare(state, who, request, None).await.map(|(id, _)| id)
}

/// How far back planner metrics look.
pub const METRICS_WINDOW_MS: i64 = 90 * 86_400_000;

/// Per-provider records, overall and per day, over the last 90 days of stored comparisons.
pub async fn planner_metrics(state: &AppState, who: &Principal) -> AppResult<PlannerMetrics> {
    who.require(Permission::Read)?;
    let history = store::candidate_history(&state.db, now_ms() - METRICS_WINDOW_MS).await?;
    let comparisons = history.iter().map(|h| h.comparison_id).collect::<HashSet<_>>().len() as i64;
    Ok(PlannerMetrics { comparisons, providers: provider_stats(&history), daily: daily_stats(&history) })
}
