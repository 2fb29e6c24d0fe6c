//! What a scrape reports. Counts of stored things (plans, approvals, step runs, comparisons) are
//! read at every scrape as gauges; the planner figures are the same [`provider_stats`] the
//! planner metrics page shows, over every stored comparison.

use sqlx::Row;

use crate::auth::model::{Permission, Principal};
use crate::comparisons::model::provider_stats;
use crate::error::AppResult;
use crate::state::AppState;
use crate::storage::Db;

/// `(label value, count)` of `select <column>, count(*) from <table> group by <column>`.
async fn counts(db: &Db, table: &str, column: &str) -> AppResult<Vec<(String, i64)>> {
    let rows = sqlx::query(&format!("select {column} as k, count(*) as n from {table} group by {column} order by {column}"))
        .fetch_all(db.reader())
        .await?;
    rows.into_iter().map(|r| Ok((r.try_get::<String, _>("k")?, r.try_get::<i64, _>("n")?))).collect()
}

/// Describes every metric (HELP lines); once per recorder, when it is made.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("nofx_http_requests_total", "HTTP requests answered by this server process, by method, route and status.");
    describe_histogram!("nofx_http_request_duration_seconds", Unit::Seconds, "Time to answer an HTTP request, by method and route.");
    describe_gauge!("nofx_plans", "Stored plans by status.");
    describe_gauge!("nofx_approvals", "Stored approval requests by status.");
    describe_gauge!("nofx_step_runs", "Step runs of executed plans by state.");
    describe_gauge!("nofx_events_stored", "Events stored for the event stream (the newest event id).");
    describe_gauge!(
        "nofx_event_stream_subscribers",
        "Event readers subscribed on this server process: open event-stream connections and internal listeners."
    );
    describe_gauge!("nofx_planner_comparisons", "Stored planner comparisons.");
    describe_gauge!("nofx_planner_candidates", "Candidates per provider by status, over every stored comparison.");
    describe_gauge!("nofx_planner_wins", "Comparisons in which the provider's candidate scored best.");
    describe_gauge!("nofx_planner_chosen", "Comparisons whose kept plan was the provider's candidate.");
    describe_gauge!("nofx_planner_win_ratio", "Wins over comparisons asked, per provider.");
    describe_gauge!("nofx_planner_validity_ratio", "Valid candidates over comparisons asked, per provider.");
    describe_gauge!("nofx_planner_score_mean", "Mean score of the provider's valid candidates (0-100).");
    describe_gauge!("nofx_planner_latency_seconds", "Provider answer latency percentiles (nearest rank), per provider.");
    describe_gauge!("nofx_planner_token_cost_usd", "What the provider's calls cost in tokens, all stored comparisons together.");
}

/// Reads the stored figures into this server's recorder and renders everything.
pub async fn scrape(state: &AppState, who: &Principal) -> AppResult<String> {
    who.require(Permission::Read)?;
    let db = &state.db;
    let (plans, approvals, steps, history) = futures::try_join!(
        counts(db, "plans", "status"),
        counts(db, "approvals", "status"),
        counts(db, "step_runs", "state"),
        crate::comparisons::store::candidate_history(db, 0),
    )?;
    let last_event: Option<i64> = sqlx::query("select max(id) as m from events").fetch_one(db.reader()).await?.try_get("m")?;
    let comparisons = history.iter().map(|h| h.comparison_id).collect::<std::collections::HashSet<_>>().len();
    let stats = provider_stats(&history);
    let subscribers = state.events.subscribers();
    state.telemetry.record(|| {
        use metrics::gauge;
        for (status, n) in &plans {
            gauge!("nofx_plans", "status" => status.clone()).set(*n as f64);
        }
        for (status, n) in &approvals {
            gauge!("nofx_approvals", "status" => status.clone()).set(*n as f64);
        }
        for (s, n) in &steps {
            gauge!("nofx_step_runs", "state" => s.clone()).set(*n as f64);
        }
        gauge!("nofx_events_stored").set(last_event.unwrap_or(0) as f64);
        gauge!("nofx_event_stream_subscribers").set(subscribers as f64);
        gauge!("nofx_planner_comparisons").set(comparisons as f64);
        for p in &stats {
            let provider = p.provider.clone();
            for (status, n) in [("valid", p.valid), ("invalid", p.invalid), ("failed", p.failed), ("timed_out", p.timed_out)] {
                gauge!("nofx_planner_candidates", "provider" => provider.clone(), "status" => status).set(n as f64);
            }
            gauge!("nofx_planner_wins", "provider" => provider.clone()).set(p.wins as f64);
            gauge!("nofx_planner_chosen", "provider" => provider.clone()).set(p.chosen as f64);
            gauge!("nofx_planner_win_ratio", "provider" => provider.clone()).set(p.win_rate);
            gauge!("nofx_planner_validity_ratio", "provider" => provider.clone()).set(p.validity_rate);
            gauge!("nofx_planner_score_mean", "provider" => provider.clone()).set(p.avg_score.unwrap_or(0.0));
            gauge!("nofx_planner_latency_seconds", "provider" => provider.clone(), "quantile" => "0.5")
                .set(p.latency_p50_ms as f64 / 1000.0);
            gauge!("nofx_planner_latency_seconds", "provider" => provider.clone(), "quantile" => "0.95")
                .set(p.latency_p95_ms as f64 / 1000.0);
            gauge!("nofx_planner_token_cost_usd", "provider" => provider).set(p.token_cost_usd);
        }
    });
    Ok(state.telemetry.render())
}
