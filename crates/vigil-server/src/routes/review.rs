//! Review: items to go through (events grouped per camera and time), the unreviewed count, reviewed
//! marks per user, false/true alarm verdicts and the weekly false-alarm report. Everything is limited
//! to the caller's cameras; biometric events only with the `faces` permission.

use super::blocking;
use super::events::with_reader;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Permission, Principal};
use crate::review::{GAP_MS, MAX_SPAN_MS, ReviewItem, group};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_core::{EventId, Severity};
use vigil_store::{ReviewScope, StoreError, Verdict};

/// Events read per round of a page (a page reads a few rounds at most).
const FETCH: usize = 2_000;
/// Rounds a page reads before it returns what it has, with a cursor to go on.
const MAX_ROUNDS: usize = 20;
/// Events the unreviewed count reads at most.
const COUNT_FETCH: usize = 100_000;

/// The events `p` may review, on `camera` or all of theirs.
fn scope(p: &Principal, camera: Option<&String>) -> ReviewScope {
    let cameras = match (camera, &p.cameras) {
        (Some(c), _) if !p.sees(c) => Some(Vec::new()),
        (Some(c), _) => Some(vec![c.clone()]),
        (None, scope) => scope.clone(),
    };
    let kinds = if p.can(Permission::Faces) {
        None
    } else {
        Some(
            vigil_core::RULE_KINDS
                .iter()
                .chain(&vigil_core::OTHER_KINDS)
                .map(|k| k.to_string())
                .collect(),
        )
    };
    ReviewScope { cameras, kinds }
}

fn now() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// A position in the items' order (start descending, then camera): items after it come next.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    start: i64,
    camera: Option<String>,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::bad_request("cursor: pass the next_cursor of the previous page");
        let (start, camera) = match text.split_once('.') {
            Some((s, c)) => (s, Some(c.to_string())),
            None => (text, None),
        };
        Ok(Cursor {
            start: start.parse().map_err(|_| bad())?,
            camera,
        })
    }

    fn text(&self) -> String {
        match &self.camera {
            Some(c) => format!("{}.{c}", self.start),
            None => self.start.to_string(),
        }
    }

    /// Whether `it` comes after the cursor.
    fn before(&self, it: &ReviewItem) -> bool {
        it.start < self.start
            || (it.start == self.start && self.camera.as_ref().is_some_and(|c| &it.camera > c))
    }
}

/// GET /api/review query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    camera: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    severity: Option<String>,
    reviewed: Option<bool>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn severity_filter(text: Option<&str>) -> Result<Option<Severity>, ApiError> {
    text.filter(|s| !s.is_empty())
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "severity: {s:?} is not one; give \"alert\" or \"detection\""
                ))
            })
        })
        .transpose()
}

/// GET /api/review: review items, newest first, with a cursor for the next page.
pub async fn list(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 200 {
        return Err(ApiError::bad_request("limit is 1-200"));
    }
    let severity = severity_filter(q.severity.as_deref())?;
    let to = q.to.unwrap_or_else(|| now() + 1);
    let from = q.from.unwrap_or(0);
    if to < from {
        return Err(ApiError::bad_request("to is before from"));
    }
    let cursor = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(Cursor::parse)
        .transpose()?;
    let scope = scope(&p, q.camera.as_ref());
    let (user, reviewed) = (p.user_id, q.reviewed);
    let settings = ctx.review.clone();
    let (items, next) = with_reader(&ctx, move |r| {
        let mut out: Vec<ReviewItem> = Vec::new();
        let mut at = cursor.unwrap_or(Cursor {
            start: to,
            camera: None,
        });
        for _ in 0..MAX_ROUNDS {
            // An item starting before the cursor has all its events starting within MAX_SPAN_MS.
            let hi = at.start.saturating_add(MAX_SPAN_MS + 1).min(to);
            let rows = r.review_rows(user, &scope, from, hi, FETCH)?;
            let truncated = rows.len() == FETCH;
            let oldest = rows.last().map_or(from, |r| r.start_ms);
            // Items near the oldest event read may lack earlier events: read them again next round.
            let floor = if truncated {
                oldest + MAX_SPAN_MS + GAP_MS
            } else {
                i64::MIN
            };
            let floor = if truncated && floor >= at.start {
                oldest + 1
            } else {
                floor
            };
            for it in group(rows, &settings) {
                if !at.before(&it) {
                    continue;
                }
                if it.start < floor {
                    break;
                }
                let start = it.start;
                let camera = it.camera.clone();
                if severity.is_none_or(|s| it.severity == s)
                    && reviewed.is_none_or(|want| it.reviewed == want)
                {
                    out.push(it);
                }
                if out.len() == limit {
                    let next = Cursor {
                        start,
                        camera: Some(camera),
                    };
                    return Ok((out, Some(next.text())));
                }
            }
            if !truncated || floor <= from || floor >= at.start {
                return Ok((out, None));
            }
            at = Cursor {
                start: floor,
                camera: None,
            };
        }
        Ok((out, Some(at.text())))
    })
    .await?;
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// GET /api/review/count query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountQuery {
    days: Option<i64>,
}

/// GET /api/review/count: the caller's unreviewed items of the last days, per severity.
pub async fn count(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<CountQuery>,
) -> ApiResult<Json<Value>> {
    let days = q.days.unwrap_or(7);
    if !(1..=31).contains(&days) {
        return Err(ApiError::bad_request("days is 1-31"));
    }
    let scope = scope(&p, None);
    let user = p.user_id;
    let settings = ctx.review.clone();
    let (alert, detection) = with_reader(&ctx, move |r| {
        let now = now();
        let rows = r.review_rows(user, &scope, now - days * 86_400_000, now + 1, COUNT_FETCH)?;
        let items = group(rows, &settings);
        let unreviewed = items.iter().filter(|i| !i.reviewed);
        let alert = unreviewed
            .clone()
            .filter(|i| i.severity == Severity::Alert)
            .count();
        Ok((alert, unreviewed.count() - alert))
    })
    .await?;
    Ok(Json(json!({
        "alert": alert,
        "detection": detection,
        "total": alert + detection,
        "days": days,
    })))
}

/// POST /api/review/reviewed body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    events: Option<Vec<String>>,
    until: Option<i64>,
    from: Option<i64>,
    camera: Option<String>,
    #[serde(default = "yes")]
    reviewed: bool,
}

fn yes() -> bool {
    true
}

/// Most events marked by id in one request.
const MAX_MARK: usize = 5_000;

/// POST /api/review/reviewed: marks events (the `events` of items) or everything of the caller's
/// starting before `until` reviewed, or not (`"reviewed": false`), for the caller alone.
pub async fn mark(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<MarkRequest>,
) -> ApiResult<Json<Value>> {
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("no event store in this server"))?;
    let changed = match (req.events, req.until) {
        (Some(events), None) => {
            if events.is_empty() || events.len() > MAX_MARK {
                return Err(ApiError::bad_request(format!(
                    "events: give 1-{MAX_MARK} event ids"
                )));
            }
            let ids = events
                .iter()
                .map(|e| {
                    e.parse::<EventId>().map_err(|_| {
                        ApiError::bad_request(format!("events: {e:?} is not an event id"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let pp = p.clone();
            let checked = ids.clone();
            with_reader(&ctx, move |r| {
                for id in checked {
                    let e = r.get(id)?;
                    if !pp.sees_event(&e.event) {
                        return Err(StoreError::EventNotFound { id: id.to_string() });
                    }
                }
                Ok(())
            })
            .await?;
            let (user, reviewed) = (p.user_id, req.reviewed);
            blocking(move || Ok(store.set_reviewed(user, &ids, reviewed)?)).await?
        }
        (None, Some(until)) => {
            let scope = scope(&p, req.camera.as_ref());
            let (user, reviewed, from) = (p.user_id, req.reviewed, req.from.unwrap_or(0));
            blocking(move || {
                Ok(store.set_reviewed_until(
                    user,
                    &scope,
                    from,
                    until.saturating_add(1),
                    reviewed,
                )?)
            })
            .await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either \"events\" (event ids) or \"until\" (unix ms: everything starting up to then)",
            ));
        }
    };
    Ok(Json(json!({ "changed": changed })))
}

/// POST /api/events/{id}/feedback body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    verdict: String,
    #[serde(default)]
    note: String,
}

/// Longest note kept with a verdict (characters).
const MAX_NOTE: usize = 1_000;

/// POST /api/events/{id}/feedback: the caller's verdict on an event (replacing their earlier one),
/// audited as `event.feedback`.
pub async fn feedback(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> ApiResult<Json<Value>> {
    let verdict = Verdict::parse(&req.verdict).ok_or_else(|| {
        ApiError::bad_request(format!(
            "verdict: {:?} is not one; give \"false_alarm\" or \"true_alarm\"",
            req.verdict
        ))
    })?;
    if req.note.chars().count() > MAX_NOTE || req.note.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::bad_request(format!(
            "note: at most {MAX_NOTE} characters, no control characters"
        )));
    }
    let id: EventId = id
        .parse()
        .map_err(|_| ApiError::not_found("no such event"))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("no event store in this server"))?;
    let pp = p.clone();
    with_reader(&ctx, move |r| {
        let e = r.get(id)?;
        if !pp.sees_event(&e.event) {
            return Err(StoreError::EventNotFound { id: id.to_string() });
        }
        Ok(())
    })
    .await?;
    let sec = ctx.security.clone();
    let note = req.note.clone();
    let given = blocking(move || {
        let given = store.record_feedback(p.user_id, &p.username, id, verdict, &note)?;
        let mut detail = format!(
            "{} (camera {}, rule {})",
            verdict.name(),
            given.camera,
            given.rule
        );
        if !note.is_empty() {
            detail.push_str(": ");
            detail.push_str(&note);
        }
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "event.feedback",
            &format!("event {id}"),
            &detail,
        );
        Ok(given)
    })
    .await?;
    Ok(Json(json!({
        "event": id.to_string(),
        "verdict": verdict,
        "note": req.note,
        "camera": given.camera,
        "rule": given.rule,
    })))
}

/// GET /api/review/feedback query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackQuery {
    weeks: Option<u32>,
}

/// GET /api/review/feedback: false alarms per camera, rule and ISO week (the site's local weeks) over
/// the last `weeks` weeks (this one included), with the events each rule raised: the rate to tune on.
pub async fn report(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<FeedbackQuery>,
) -> ApiResult<Json<Value>> {
    let weeks = q.weeks.unwrap_or(8);
    if !(1..=52).contains(&weeks) {
        return Err(ApiError::bad_request("weeks is 1-52"));
    }
    let scope = scope(&p, None);
    let settings = ctx.review.clone();
    let rows = with_reader(&ctx, move |r| {
        let local = |camera: &str, ms: i64| settings.local_ms(camera, ms);
        r.weekly_feedback(&scope, weeks, now(), &local)
    })
    .await?;
    Ok(Json(json!({ "weeks": weeks, "rows": rows })))
}
