//! Planning use cases: validate the request, load the backlog, plan, run the gates, and store the
//! plan, its verdicts, its events (and the idempotency record) in one transaction.

use serde_json::json;

use crate::plan::draft::{Catalog, Draft, StatsByTool, ToolRegistry};
use crate::planner::build::GraphPlanner;

use super::store;
use crate::audit::{Action, Actor, Entry, Links};
use crate::auth::model::{Permission, Principal};
use crate::backlog::model::{ItemFilter, ItemStatus};
use crate::backlog::store as backlog_store;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::{EventKind, NewEvent, Subject};
use crate::gates::{apply, evaluate_all, GateInput};
use crate::plan::model::*;
use crate::plan::verdict::Verdict;
use crate::planner::provider::PlannerInput;
use crate::state::AppState;
use crate::storage::now_ms;

/// The idempotency record to complete in the plan's transaction.
pub struct IdempotencyClaim {
    pub principal: String,
    pub endpoint: &'static str,
    pub key: String,
}

/// 403 `feature_disabled` naming the flag, as the contract says.
pub fn require_auto_planner(state: &AppState) -> AppResult<()> {
    if state.config.flags.auto_planner {
        return Ok(());
    }
    Err(AppError::forbidden(
        ErrorCode::FeatureDisabled,
        "The auto planner is switched off on this server; set FEATURE_AUTO_PLANNER=on to enable planning.",
    )
    .with("flag", "FEATURE_AUTO_PLANNER"))
}

/// Shape checks that need no database: one selector, sane sizes and numbers.
pub fn validate_request(r: &PlanRequest) -> AppResult<()> {
    match (&r.item_ids, r.pack_id) {
        (Some(_), Some(_)) => {
            return Err(AppError::unprocessable(ErrorCode::InvalidSelection, "Send either `item_ids` or `pack_id`, not both."));
        }
        (None, None) => {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidSelection,
                "Say what to plan: `item_ids` (a list of backlog item ids) or `pack_id`.",
            ));
        }
        (Some(ids), None) if ids.is_empty() => {
            return Err(AppError::unprocessable(ErrorCode::EmptySelection, "`item_ids` is empty; select at least one backlog item."));
        }
        (Some(ids), None) if ids.len() > MAX_PLAN_ITEMS => {
            return Err(AppError::unprocessable(
                ErrorCode::SelectionTooLarge,
                format!("{} items were selected; one plan covers at most {MAX_PLAN_ITEMS}. Plan pack by pack.", ids.len()),
            )
            .with("max_items", MAX_PLAN_ITEMS as i64));
        }
        (Some(ids), None) if ids.iter().any(|id| *id <= 0) => {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidSelection,
                "`item_ids` holds backlog item ids, which are positive integers.",
            ));
        }
        _ => {}
    }
    if let Some(b) = r.budget_usd {
        if !b.is_finite() || b <= 0.0 || b > 1_000_000_000.0 {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidBudget,
                "`budget_usd` must be a positive number of dollars (at most 1e9).",
            ));
        }
    }
    Ok(())
}

const PLAN_ENDPOINT: &str = "POST /api/auto-planner/plan";

/// What planning answered: a new plan, or the stored answer to an earlier request with the same
/// `Idempotency-Key` and body.
pub enum Planned {
    /// The new plan's id and its answer as JSON (the text that would be replayed).
    Created {
        id: i64,
        body: String,
    },
    Replayed {
        status: u16,
        body: String,
    },
}

/// Plans from a JSON request body, honouring an `Idempotency-Key` (Stripe-style: a retry with the
/// same key and body replays the first answer; the same key with another body is refused).
/// The caller's permission and the feature flag are checked before the body is even read.
/// A replay answers in the form of the first answer, as it replays its status and body.
pub async fn plan_json(
    state: &AppState,
    who: &Principal,
    body: &[u8],
    idempotency_key: Option<&str>,
    form: AnswerForm,
) -> AppResult<Planned> {
    who.require(Permission::CreatePlan)?;
    require_auto_planner(state)?;
    let request: PlanRequest = parse_json(body)?;
    let created = |s: StoredPlan| Planned::Created { id: s.plan.id, body: s.json };
    let Some(key) = idempotency_key else {
        return store_plan(state, who, &request, None, form).await.map(created);
    };
    crate::idempotency::validate_key(key)?;
    let claim = IdempotencyClaim { principal: who.identity(), endpoint: PLAN_ENDPOINT, key: key.to_string() };
    match crate::idempotency::claim(&state.db, &claim.principal, claim.endpoint, &claim.key, &crate::idempotency::fingerprint(body)).await?
    {
        crate::idempotency::Claim::Replay { status, body } => Ok(Planned::Replayed { status, body }),
        crate::idempotency::Claim::Fresh => match store_plan(state, who, &request, Some(&claim), form).await {
            Ok(s) => Ok(created(s)),
            Err(e) => {
                // Nothing was written, so the key is free for a corrected retry.
                crate::idempotency::release(&state.db, &claim.principal, claim.endpoint, &claim.key).await?;
                Err(e)
            }
        },
    }
}

/// The JSON body with the same errors as every other endpoint (the raw bytes are also needed
/// for the idempotency fingerprint).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> AppResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            AppError::bad_request(ErrorCode::InvalidJson, format!("The body is not valid JSON: {e}. Check quotes, commas and brackets."))
        } else {
            AppError::bad_request(ErrorCode::InvalidBody, format!("The JSON does not have the expected shape: {e}."))
        }
    })
}

/// Plans, judges and stores (for callers that want the plan itself, not a JSON answer).
pub async fn create_plan(state: &AppState, who: &Principal, request: &PlanRequest) -> AppResult<Plan> {
    store_plan(state, who, request, None, AnswerForm::Minimal).await.map(|s| s.plan)
}

/// What the answer to a new plan carries: the whole plan (the default), or with `Prefer:
/// return=minimal` its [`PlanOutcome`] (megabytes less for a large plan; the rest is one GET away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    Full,
    Minimal,
}

/// A stored plan with its JSON answer. The plan is serialised once: the same text is stored as
/// the plan document and, in the full form, kept for idempotent replays and sent to the client.
pub struct StoredPlan {
    pub plan: Plan,
    pub json: String,
}

/// What planning reads: the backlog, the tools and their statistics, and the resolved selection.
pub struct Loaded {
    pub catalog: Catalog,
    pub tools: ToolRegistry,
    pub stats: StatsByTool,
    /// The requested items (resolved from `item_ids` or the pack), in request order, deduplicated.
    pub selected: Vec<i64>,
}

impl Loaded {
    pub fn input<'a>(&'a self, request: &'a PlanRequest, state: &AppState) -> PlannerInput<'a> {
        PlannerInput {
            request,
            selected: &self.selected,
            catalog: &self.catalog,
            tools: &self.tools,
            stats: &self.stats,
            defaults: state.policy.estimate_defaults(),
        }
    }
}

/// Checks the caller, the flag and the request, and loads what planning it needs. Refuses
/// unknown, finished or too many items with what to change.
pub async fn load(state: &AppState, who: &Principal, request: &PlanRequest) -> AppResult<Loaded> {
    who.require(Permission::CreatePlan)?;
    require_auto_planner(state)?;
    validate_request(request)?;
    let db = &state.db;

    // The whole backlog (dependencies may reach anywhere, and "done" must be known for each),
    // the tools, and their statistics (the same, over the same window, as the tools page shows):
    // independent reads, run side by side.
    let everything = ItemFilter::default();
    let (items, tools, stats) = futures::try_join!(
        backlog_store::list_items(db, &everything),
        backlog_store::list_tools(db),
        crate::backlog::service::tool_stats(db),
    )?;
    let catalog: Catalog = items.into_iter().map(|i| (i.id, i)).collect();
    let selected: Vec<i64> = match (&request.item_ids, request.pack_id) {
        (Some(ids), _) => {
            let mut seen = std::collections::HashSet::new();
            let ids: Vec<i64> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
            let unknown: Vec<i64> = ids.iter().copied().filter(|id| !catalog.contains_key(id)).collect();
            if !unknown.is_empty() {
                let list = unknown.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
                return Err(AppError::unprocessable(
                    ErrorCode::UnknownReferences,
                    format!("`item_ids` names backlog items that do not exist: {list}. Remove them and try again."),
                )
                .with("unknown_item_ids", unknown));
            }
            let done: Vec<i64> = ids.iter().copied().filter(|id| catalog[id].status == ItemStatus::Done).collect();
            if !done.is_empty() {
                let list = done.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
                return Err(AppError::unprocessable(
                    ErrorCode::ItemsDone,
                    format!("Items {list} are already done, so there is nothing to plan for them; leave them out or reopen them."),
                )
                .with("done_item_ids", done));
            }
            ids
        }
        (None, Some(pack_id)) => {
            let pack = backlog_store::get_pack(db, pack_id).await?.ok_or_else(|| {
                AppError::unprocessable(
                    ErrorCode::UnknownReferences,
                    format!("Pack {pack_id} does not exist; pick a pack from GET /api/packs."),
                )
                .with("unknown_pack_id", pack_id)
            })?;
            let mut ids: Vec<i64> =
                catalog.values().filter(|i| i.pack_id == pack_id && i.status != ItemStatus::Done).map(|i| i.id).collect();
            ids.sort_unstable();
            if ids.is_empty() {
                return Err(AppError::unprocessable(
                    ErrorCode::EmptySelection,
                    format!("Pack `{}` has no unfinished items, so there is nothing to plan.", pack.name),
                ));
            }
            if ids.len() > MAX_PLAN_ITEMS {
                return Err(AppError::unprocessable(
                    ErrorCode::SelectionTooLarge,
                    format!("Pack `{}` has {} unfinished items; one plan covers at most {MAX_PLAN_ITEMS}.", pack.name, ids.len()),
                ));
            }
            ids
        }
        (None, None) => unreachable!("validated above"),
    };

    let tools: ToolRegistry = tools.into_iter().map(|t| (t.id.clone(), t)).collect();
    let stats: StatsByTool = stats.into_iter().collect();
    Ok(Loaded { catalog, tools, stats, selected })
}

/// Runs the four gates on a draft and makes it a plan (id 0, not stored yet) by `who` at `now`.
pub fn judge(state: &AppState, loaded: &Loaded, request: &PlanRequest, mut draft: Draft, who: &Principal, now: i64) -> Plan {
    let policy = &state.policy;
    draft.estimate.budget_usd = request.budget_usd.unwrap_or(policy.resource.budget_usd);
    let report = evaluate_all(&GateInput { draft: &draft, catalog: &loaded.catalog, tools: &loaded.tools, policy, now_ms: now });
    let judgement = apply(&mut draft, report);
    Plan {
        id: 0,
        status: judgement.status,
        planner: draft.planner,
        request: request.clone(),
        items: draft.items,
        groups: draft.groups,
        steps: draft.steps,
        waves: draft.waves,
        critical_path: draft.critical_path,
        estimate: draft.estimate,
        verdicts: judgement.verdicts,
        findings: judgement.plan_findings,
        verdict_counts: judgement.counts,
        created_by: who.identity(),
        created_at: now,
        unblocked_until: None,
    }
}

/// Plans, judges and stores. Nothing is written unless every check passes; the plan, its
/// evaluations, its events and the idempotency record commit together.
async fn store_plan(
    state: &AppState,
    who: &Principal,
    request: &PlanRequest,
    claim: Option<&IdempotencyClaim>,
    form: AnswerForm,
) -> AppResult<StoredPlan> {
    let loaded = load(state, who, request).await?;
    let draft = GraphPlanner.plan(&loaded.input(request, state));
    let plan = judge(state, &loaded, request, draft, who, now_ms());
    persist(state, who, plan, claim, form, None).await
}

/// The comparison candidate a plan was kept from: marked chosen in the plan's transaction.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub comparison_id: i64,
    pub candidate: usize,
}

/// Stores a judged plan (`plan.id` is 0) with its audit record and events, and the idempotency
/// record or the comparison it was kept from, in one transaction.
pub async fn persist(
    state: &AppState,
    who: &Principal,
    plan: Plan,
    claim: Option<&IdempotencyClaim>,
    form: AnswerForm,
    origin: Option<Origin>,
) -> AppResult<StoredPlan> {
    let db = &state.db;
    let now = plan.created_at;
    // Serialised once, with id 0 (the row's id is the truth for stored documents); the answer
    // and the idempotency record get the real id spliced in. The write op may run twice, so it
    // gets what it writes (the record, the events without their id) rather than the plan.
    let document = serde_json::to_string(&plan).map_err(|_| AppError::internal())?;
    let outcome = (form == AnswerForm::Minimal).then(|| PlanOutcome::of(&plan));
    let record = std::sync::Arc::new((store::PlanRecord::of(&plan, document)?, outcome));
    let events = std::sync::Arc::new(plan_events(&plan));
    let actor = Actor::of(who);
    let audit = std::sync::Arc::new(created_entry(&actor, &plan, origin));
    let (id, json, ids) = {
        let backend = db.backend;
        let claim = claim.map(|c| std::sync::Arc::new((c.principal.clone(), c.endpoint, c.key.clone())));
        let chooser = who.identity();
        db.write(move |tx| {
            let (record, events, claim, audit, actor, chooser) =
                (record.clone(), events.clone(), claim.clone(), audit.clone(), actor.clone(), chooser.clone());
            Box::pin(async move {
                let (record, outcome) = &*record;
                // A comparison keeps one candidate: claimed before anything is written.
                if let Some(o) = origin {
                    crate::comparisons::store::claim_choice(tx, o.comparison_id, o.candidate, &chooser, now).await?;
                }
                let id = store::insert_plan(tx, backend, record, now).await?;
                if let Some(o) = origin {
                    crate::comparisons::store::set_plan(tx, o.comparison_id, id).await?;
                }
                let json = match outcome {
                    Some(o) => serde_json::to_string(&o.clone().with_id(id)).map_err(|_| AppError::internal())?,
                    None => with_id(&record.document, id)?,
                };
                let events: Vec<NewEvent> = events.iter().map(|(kind, payload)| about_plan(*kind, payload, id)).collect();
                let created = audit.as_ref().clone().about_plan(id);
                let ids = crate::audit::store::append_with_events(tx, backend, &actor, vec![created], &events, now).await?;
                if let Some(c) = claim.as_deref() {
                    crate::idempotency::complete(&mut **tx, &c.0, c.1, &c.2, 201, &json).await?;
                }
                Ok((id, json, ids))
            })
        })
        .await?
    };
    let mut plan = plan;
    plan.id = id;
    if let Some(last) = ids.last() {
        state.events.published(*last);
    }
    tracing::info!(plan = plan.id, status = plan.status.as_str(), steps = plan.steps.len(), by = %plan.created_by, "plan stored");
    Ok(StoredPlan { plan, json })
}

/// The audit record of a new plan (its id is set when it is stored).
fn created_entry(actor: &Actor, plan: &Plan, origin: Option<Origin>) -> Entry {
    let links = Links::default().with_items(plan.items.iter().map(|i| i.id), plan.groups.iter().map(|g| g.pack_id));
    let summary = format!(
        "Planned {} item{} into {} steps in {} waves: {}.",
        plan.items.len(),
        if plan.items.len() == 1 { "" } else { "s" },
        plan.steps.len(),
        plan.waves.len(),
        plan.status.label()
    );
    let mut fields = json!({
        "request": plan.request, "planner": plan.planner, "status": plan.status, "verdict_counts": plan.verdict_counts,
        "blocking_gates": plan.verdicts.iter().filter(|v| v.verdict == Verdict::Block).map(|v| v.gate).collect::<Vec<_>>(),
    });
    if let Some(o) = origin {
        // Kept from a comparison: which one, and which candidate.
        fields["comparison_id"] = json!(o.comparison_id);
        fields["candidate"] = json!(o.candidate);
    }
    let summary = match origin {
        Some(o) => format!("{summary} Kept from comparison {} ({}).", o.comparison_id, plan.planner),
        None => summary,
    };
    Entry::new(actor, Action::PlanCreated, "plan:0", links, summary).fields(fields)
}

/// An event about plan `id`: its subject, and `plan_id` added to the payload.
fn about_plan(kind: EventKind, payload: &serde_json::Map<String, serde_json::Value>, id: i64) -> NewEvent {
    let mut payload = payload.clone();
    payload.insert("plan_id".into(), json!(id));
    NewEvent { kind, subject: Subject::Plan(id), payload: serde_json::Value::Object(payload) }
}

/// The plan document (serialised with id 0, its first field) with the stored row's id.
fn with_id(document: &str, id: i64) -> AppResult<String> {
    const UNSTORED: &str = "{\"id\":0,";
    let rest = document.strip_prefix(UNSTORED).ok_or_else(|| {
        tracing::error!("a plan document does not start with its id");
        AppError::internal()
    })?;
    let mut out = String::with_capacity(document.len() + 20);
    out.push_str("{\"id\":");
    out.push_str(itoa::Buffer::new().format(id));
    out.push(',');
    out.push_str(rest);
    Ok(out)
}

/// `plan.evaluated`, then `plan.ready` or `plan.blocked` with what blocks it: kinds and payloads,
/// to which [`about_plan`] adds the plan's id once it is known.
fn plan_events(plan: &Plan) -> Vec<(EventKind, serde_json::Map<String, serde_json::Value>)> {
    let object = |v: serde_json::Value| match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("json! of an object literal"),
    };
    let item_ids: Vec<i64> = plan.items.iter().map(|i| i.id).collect();
    let pack_ids: Vec<i64> = plan.groups.iter().map(|g| g.pack_id).collect();
    let verdicts: serde_json::Map<String, serde_json::Value> =
        plan.verdicts.iter().map(|v| (v.gate.as_str().to_string(), json!(v.verdict.as_str()))).collect();
    let evaluated = object(json!({"planner": plan.planner, "verdicts": verdicts, "verdict_counts": plan.verdict_counts}));
    let outcome = match plan.status {
        PlanStatus::Blocked => {
            let blocking: Vec<_> = plan
                .verdicts
                .iter()
                .filter(|v| v.verdict == Verdict::Block)
                .map(|v| json!({"gate": v.gate, "reasons": v.reasons.iter().take(5).collect::<Vec<_>>(), "remediation": v.remediation}))
                .collect();
            (EventKind::PlanBlocked, object(json!({"status": "blocked", "item_ids": item_ids, "pack_ids": pack_ids, "blocking": blocking})))
        }
        // A new plan is judged `ready` or `blocked`; the other statuses come from executing it.
        _ => (
            EventKind::PlanReady,
            object(json!({"status": plan.status.as_str(), "item_ids": item_ids, "pack_ids": pack_ids,
                "steps": plan.steps.len(), "waves": plan.waves.len(), "estimate": plan.estimate})),
        ),
    };
    vec![(EventKind::PlanEvaluated, evaluated), outcome]
}

pub async fn get_plan(state: &AppState, who: &Principal, id: i64) -> AppResult<Plan> {
    who.require(Permission::Read)?;
    store::get_plan(&state.db, id).await?.ok_or_else(|| AppError::not_found(&format!("Plan {id}")))
}

pub async fn list_plans(state: &AppState, who: &Principal, status: Option<PlanStatus>, limit: i64) -> AppResult<Vec<PlanSummary>> {
    who.require(Permission::Read)?;
    store::list_plans(&state.db, status, limit.clamp(1, 500)).await
}

pub async fn list_evaluations(state: &AppState, who: &Principal, id: i64, filter: &EvaluationFilter) -> AppResult<Vec<Evaluation>> {
    who.require(Permission::Read)?;
    if !store::plan_exists(&state.db, id).await? {
        return Err(AppError::not_found(&format!("Plan {id}")));
    }
    store::list_evaluations(&state.db, id, filter).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_carries_the_stored_id() {
        // `with_id` relies on the plan document starting with its id: a field moved in `Plan`
        // would make every answer a 500, so this pins the order.
        let plan = Plan {
            id: 0,
            status: PlanStatus::Ready,
            planner: "nofx/graph-v1".into(),
            request: PlanRequest::default(),
            items: vec![],
            groups: vec![],
            steps: vec![],
            waves: vec![],
            critical_path: vec![],
            estimate: Default::default(),
            verdicts: vec![],
            findings: vec![],
            verdict_counts: Default::default(),
            created_by: "user:ann".into(),
            created_at: 1,
            unblocked_until: None,
        };
        let document = serde_json::to_string(&plan).unwrap();
        let answer = with_id(&document, 4711).unwrap();
        let back: Plan = serde_json::from_str(&answer).unwrap();
        assert_eq!(back, Plan { id: 4711, ..plan });
        assert!(with_id("{\"status\":\"ready\"}", 1).is_err(), "a document without a leading id is an error, not a guess");
    }
}
