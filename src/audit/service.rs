//! Reading the audit trail: who may, the filters, pages, the export and chain verification.
//! Writing happens in the other areas' transactions through [`super::store::append`] (or
//! [`write_recorded`], which runs a use case's transaction and records it).

use super::model::*;
use super::store;
use crate::auth::model::{Permission, Principal};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::NewEvent;
use crate::state::AppState;
use crate::storage::{now_ms, Backend, Tx};

/// What a recorded write collects beside its value: the events it emits and the audit records
/// the events do not stand for (see [`from_event`]); each area adds its own after-commit work.
pub trait Recorded: Default + Send + 'static {
    fn events(&self) -> &[NewEvent];
    fn take_entries(&mut self) -> Vec<Entry> {
        Vec::new()
    }
}

/// Runs `op` in one write transaction with fresh effects, appends its audit records (by `actor`)
/// and its events in the same transaction, and tells the event stream once it committed. Returns
/// the value and the effects, for what the caller does after the commit.
pub async fn write_recorded<T: Send + 'static, E: Recorded>(
    state: &AppState,
    actor: Actor,
    op: impl for<'c> Fn(&'c mut Tx, Backend, &'c mut E) -> futures::future::BoxFuture<'c, AppResult<T>> + Send + Sync + 'static,
) -> AppResult<(T, E)> {
    let op = std::sync::Arc::new(op);
    let backend = state.db.backend;
    let (value, fx, ids) = state
        .db
        .write(move |tx| {
            let (op, actor) = (op.clone(), actor.clone());
            Box::pin(async move {
                let mut fx = E::default();
                let value = op(tx, backend, &mut fx).await?;
                let entries = fx.take_entries();
                let ids = store::append_with_events(tx, backend, &actor, entries, fx.events(), now_ms()).await?;
                Ok((value, fx, ids))
            })
        })
        .await?;
    if let Some(last) = ids.last() {
        state.events.published(*last);
    }
    Ok((value, fx))
}

/// Checks a filter and says what to fix.
fn validate(f: &AuditFilter) -> AppResult<()> {
    let bad = |m: String| Err(AppError::unprocessable(ErrorCode::InvalidQuery, m));
    if let Some(limit) = f.limit {
        if !(1..=store::MAX_PAGE).contains(&limit) {
            return bad(format!("`limit` is between 1 and {} (got {limit}).", store::MAX_PAGE));
        }
    }
    if let Some(a) = f.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        let known = match a.strip_suffix(".*") {
            Some(area) => Action::ALL.iter().any(|x| x.area() == area),
            None => Action::parse(a).is_some(),
        };
        if !known {
            return bad(format!("`action` must be an action like `approval.approved` or an area like `approval.*`; `{a}` is neither."));
        }
    }
    if let Some(actor) = &f.actor {
        if actor.len() > 200 {
            return bad("`actor` is too long (200 characters at most).".into());
        }
    }
    if let (Some(since), Some(until)) = (f.since, f.until) {
        if since >= until {
            return bad("`since` must be before `until`.".into());
        }
    }
    Ok(())
}

/// A page of records matching `f`, newest first, with the cursor of the next page.
pub async fn page(state: &AppState, who: &Principal, f: &AuditFilter) -> AppResult<AuditPage> {
    who.require(Permission::ReadAudit)?;
    validate(f)?;
    let limit = f.limit.unwrap_or(50);
    let records = store::list(&state.db, f).await?;
    let next = (records.len() as i64 == limit).then(|| records.last().map(|r| r.seq)).flatten();
    Ok(AuditPage { records, next })
}

/// The latest sequence number and hash.
pub async fn head(state: &AppState, who: &Principal) -> AppResult<Head> {
    who.require(Permission::ReadAudit)?;
    store::head(&state.db).await
}

/// Recomputes the whole chain (and checks it reaches `expect`).
pub async fn verify(state: &AppState, who: &Principal, expect: Option<&Head>) -> AppResult<ChainStatus> {
    who.require(Permission::ReadAudit)?;
    store::verify(&state.db, expect).await.map_err(|e| {
        tracing::error!(error = %e, "audit verification could not read the log");
        AppError::internal()
    })
}

/// Records per export page.
const EXPORT_BATCH: i64 = 1000;

/// The records `f` selects (the whole log when unfiltered) as JSON Lines, oldest first, one page
/// of records at a time: each line is a [`Record`], so the chain can be verified from an
/// unfiltered export alone (a filtered one lists its records with their hashes).
pub fn export(
    state: &AppState,
    who: &Principal,
    f: &AuditFilter,
) -> AppResult<impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static> {
    who.require(Permission::ReadAudit)?;
    validate(f)?;
    let f = AuditFilter { before: None, limit: None, ..f.clone() };
    let db = state.db.clone();
    Ok(futures::stream::try_unfold(Some(0i64), move |after| {
        let (db, f) = (db.clone(), f.clone());
        async move {
            let Some(after) = after else { return Ok(None) };
            let records = store::matching_after(&db, &f, after, EXPORT_BATCH).await.map_err(|e| std::io::Error::other(e.message))?;
            let Some(last) = records.last().map(|r| r.seq) else { return Ok(None) };
            let mut out = Vec::with_capacity(records.len() * 512);
            for r in &records {
                serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
                out.push(b'\n');
            }
            let more = records.len() as i64 == EXPORT_BATCH;
            Ok(Some((out, more.then_some(last))))
        }
    }))
}
