//! `GET /api/events`: Server-Sent Events with replay (`Last-Event-ID` or `?after=`) and a
//! `types` filter.

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{parse_type_filter, type_matches, Event};
use super::service::{self, Subscription};
use crate::auth::http::AnyCaller;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    /// Comma-separated types or prefixes (`plan.ready,approval.*`); empty means all.
    types: Option<String>,
    /// Replay events after this id (same as the `Last-Event-ID` header, which wins).
    after: Option<i64>,
}

/// The event stream (Server-Sent Events). Without `Last-Event-ID` or `after`, only new events
/// are sent; with either, missed events are replayed first, in id order. Authenticates with an
/// API key or the browser session.
#[utoipa::path(get, path = "/events", tag = "events", params(EventQuery,
    ("Last-Event-ID" = Option<i64>, Header, description = "resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", body = Event)), security(("api_key" = [])))]
async fn stream_events(
    State(s): State<AppState>,
    AnyCaller(who): AnyCaller,
    headers: http::HeaderMap,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> AppResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let header_id =
        match headers.get("last-event-id") {
            Some(v) => Some(v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).ok_or_else(|| {
                AppError::bad_request(ErrorCode::InvalidLastEventId, "`Last-Event-ID` must be the numeric id of an event.")
            })?),
            None => None,
        };
    let filter = parse_type_filter(q.types.as_deref());
    let subscription = service::subscribe(&s, &who, header_id.or(q.after)).await?;
    Ok(Sse::new(event_stream(s, subscription, filter)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Cursor {
    state: AppState,
    subscription: Subscription,
    filter: Vec<String>,
    buffer: VecDeque<Event>,
}

fn event_stream(state: AppState, subscription: Subscription, filter: Vec<String>) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let cursor = Cursor { state, subscription, filter, buffer: VecDeque::new() };
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.buffer.pop_front() {
                let data = serde_json::to_string(&e).unwrap_or_default();
                let sse = SseEvent::default().id(e.id.to_string()).event(e.kind.as_str()).data(data);
                return Some((Ok(sse), c));
            }
            match c.subscription.batch(&c.state, 500).await {
                Ok(batch) if !batch.is_empty() => {
                    c.buffer.extend(batch.into_iter().filter(|e| type_matches(&c.filter, e.kind)));
                    continue;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
            // Caught up: wait for the next "re-read" signal.
            match c.subscription.signals.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
