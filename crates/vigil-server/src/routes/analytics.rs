//! Business intelligence (`analytics` permission): footfall, occupancy, dwell, queues, heatmaps and
//! KPIs over a range of the caller's cameras, as JSON, CSV (`format=csv`) or, for heatmaps, PNG; and the
//! stored reports. The figures themselves are `vigil-bi`'s.

use super::extract::{ApiPath, ApiQuery};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::Principal;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::Serialize;
use std::sync::Arc;
use vigil_bi::csv::ToCsv;
use vigil_bi::{Ask, BiError, Bucket, HeatKind, Site};
use vigil_store::EventReader;

/// The analytics routes' query.
#[derive(Deserialize, Default)]
pub struct AnalyticsQuery {
    camera: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    bucket: Option<String>,
    compare: Option<String>,
    format: Option<String>,
    kind: Option<String>,
    cols: Option<u32>,
    rows: Option<u32>,
}

impl From<BiError> for ApiError {
    fn from(e: BiError) -> Self {
        match e {
            BiError::BadQuery(m) => ApiError::bad_request(m),
            BiError::Store(s) => ApiError::from(s),
            other => ApiError::internal(other),
        }
    }
}

/// The question asked: the caller's cameras (or the one named, if they may see it), the range (default:
/// the last 24 hours), the bucket (default: one that fits the range).
fn ask_of(ctx: &AppState, p: &Principal, q: &AnalyticsQuery) -> ApiResult<Ask> {
    let to = q.to.unwrap_or_else(vigil_core::time::now_unix_ms);
    let from = q.from.unwrap_or(to - 86_400_000);
    let bucket = match &q.bucket {
        Some(b) => Bucket::parse(b)?,
        None => Bucket::for_span(to - from),
    };
    let compare = match q.compare.as_deref() {
        None | Some("none") => false,
        Some("previous") => true,
        Some(o) => {
            return Err(ApiError::bad_request(format!(
                "compare {o:?}: expected previous or none"
            )));
        }
    };
    if let Some(f) = q.format.as_deref()
        && !matches!(f, "json" | "csv" | "png")
    {
        return Err(ApiError::bad_request(format!(
            "format {f:?}: expected json, csv or png (heatmap)"
        )));
    }
    let cameras = match &q.camera {
        Some(c) if !p.sees(c) => return Err(ApiError::forbidden("not your camera")),
        Some(c) => vec![c.clone()],
        None => ctx
            .camera_names()
            .into_iter()
            .filter(|c| p.sees(c))
            .collect(),
    };
    let ask = Ask {
        cameras,
        from_ms: from,
        to_ms: to,
        bucket,
        compare,
    };
    ask.check()?;
    Ok(ask)
}

/// Runs `f` with an event reader and the site.
async fn with_bi<T: Send + 'static>(
    ctx: &AppState,
    f: impl FnOnce(&EventReader, &Site) -> Result<T, BiError> + Send + 'static,
) -> ApiResult<T> {
    let site = Arc::clone(&ctx.site);
    let out = super::events::with_reader(ctx, move |r| Ok(f(r, &site))).await?;
    Ok(out?)
}

fn csv_response(name: &str, text: String) -> Response {
    let mut r = text.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// JSON of the figure compared with the previous period, or the current period's CSV.
async fn figure<T: Serialize + ToCsv + Send + 'static>(
    ctx: AppState,
    p: Principal,
    q: AnalyticsQuery,
    name: &'static str,
    f: fn(&EventReader, &Site, &Ask) -> Result<T, BiError>,
) -> ApiResult<Response> {
    let ask = ask_of(&ctx, &p, &q)?;
    if q.format.as_deref() == Some("png") {
        return Err(ApiError::bad_request("png is for heatmaps only"));
    }
    let csv = q.format.as_deref() == Some("csv");
    let out = with_bi(&ctx, move |r, site| {
        vigil_bi::compared(&ask, |a| f(r, site, a))
    })
    .await?;
    Ok(if csv {
        csv_response(name, out.current.csv())
    } else {
        axum::Json(out).into_response()
    })
}

/// GET /api/analytics/footfall.
pub async fn footfall(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Response> {
    figure(ctx, p, q, "footfall", vigil_bi::footfall).await
}

/// GET /api/analytics/occupancy.
pub async fn occupancy(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Response> {
    figure(ctx, p, q, "occupancy", vigil_bi::occupancy).await
}

/// GET /api/analytics/dwell.
pub async fn dwell(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Response> {
    figure(ctx, p, q, "dwell", vigil_bi::dwell).await
}

/// GET /api/analytics/queues.
pub async fn queues(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Response> {
    figure(ctx, p, q, "queues", vigil_bi::queues).await
}

/// GET /api/analytics/kpis: the dashboard's tiles against the previous period.
pub async fn kpis(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Response> {
    let ask = ask_of(&ctx, &p, &q)?;
    let (from, to, cameras) = (ask.from_ms, ask.to_ms, ask.cameras.clone());
    let k = with_bi(&ctx, move |r, site| vigil_bi::report::kpis(r, site, &ask)).await?;
    Ok(axum::Json(serde_json::json!({
        "from": from, "to": to, "cameras": cameras, "kpis": k
    }))
    .into_response())
}

/// GET /api/analytics/heatmap: one camera's presence or path heatmap (JSON grid, CSV cells or PNG).
pub async fn heatmap(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Response> {
    if q.camera.is_none() {
        return Err(ApiError::bad_request("heatmap needs camera="));
    }
    let ask = ask_of(&ctx, &p, &q)?;
    let kind = HeatKind::parse(q.kind.as_deref().unwrap_or("presence"))?;
    let (cols, rows) = (q.cols.unwrap_or(32), q.rows.unwrap_or(18));
    let format = q.format.clone().unwrap_or_default();
    let out = with_bi(&ctx, move |r, _| {
        vigil_bi::compared(&ask, |a| vigil_bi::heat(r, a, kind, cols, rows))
    })
    .await?;
    Ok(match format.as_str() {
        "csv" => csv_response("heatmap", out.current.csv()),
        "png" => {
            let png = vigil_bi::heatmap::png(&out.current, 640, 360);
            ([(header::CONTENT_TYPE, "image/png")], png).into_response()
        }
        _ => axum::Json(out).into_response(),
    })
}

/// GET /api/reports: the stored reports whose cameras the caller may all see, newest first.
pub async fn reports(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let dir = ctx.reports_dir.clone();
    let list = tokio::task::spawn_blocking(move || vigil_bi::stored::list(&dir))
        .await
        .map_err(ApiError::internal)?;
    let list: Vec<_> = list
        .into_iter()
        .filter(|r| r.cameras.iter().all(|c| p.sees(c)))
        .collect();
    Ok(axum::Json(list).into_response())
}

/// GET /api/reports/{file}: a stored report's PDF or HTML.
pub async fn report_file(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(file): ApiPath<String>,
) -> ApiResult<Response> {
    let path = vigil_bi::stored::file_path(&ctx.reports_dir, &file)?;
    let dir = ctx.reports_dir.clone();
    let stem = file.rsplit_once('.').map_or("", |(s, _)| s).to_string();
    let (entry, bytes) = tokio::task::spawn_blocking(move || {
        let entry = vigil_bi::stored::list(&dir)
            .into_iter()
            .find(|r| r.id == stem);
        (entry, std::fs::read(&path).ok())
    })
    .await
    .map_err(ApiError::internal)?;
    let (Some(entry), Some(bytes)) = (entry, bytes) else {
        return Err(ApiError::not_found("no such report"));
    };
    if !entry.cameras.iter().all(|c| p.sees(c)) {
        return Err(ApiError::not_found("no such report"));
    }
    let ty = if file.ends_with(".pdf") {
        "application/pdf"
    } else {
        "text/html; charset=utf-8"
    };
    let mut r = ([(header::CONTENT_TYPE, ty)], bytes).into_response();
    // a report's HTML is ours but shown as a download-safe document: no scripts run in it
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(r)
}

/// Schemas of the analytics routes' parameters and answers (for the route table's OpenAPI).
pub mod schema {
    use serde_json::{Value, json};

    /// `hour`, `day` or `week`.
    pub fn bucket() -> Value {
        json!({"type": "string", "enum": ["hour", "day", "week"]})
    }
    /// `previous` or `none`.
    pub fn compare() -> Value {
        json!({"type": "string", "enum": ["previous", "none"]})
    }
    /// `json` or `csv`.
    pub fn format() -> Value {
        json!({"type": "string", "enum": ["json", "csv"]})
    }
    /// `json`, `csv` or `png`.
    pub fn heat_format() -> Value {
        json!({"type": "string", "enum": ["json", "csv", "png"]})
    }
    /// `presence` or `paths`.
    pub fn heat_kind() -> Value {
        json!({"type": "string", "enum": ["presence", "paths"]})
    }
    /// Grid columns or rows.
    pub fn cells() -> Value {
        json!({"type": "integer", "minimum": 1, "maximum": 128})
    }
    /// A figure for the range and the previous period.
    pub fn compared() -> Value {
        json!({"type": "object", "required": ["from", "to", "bucket", "cameras", "current"],
               "properties": {"from": {"type": "integer"}, "to": {"type": "integer"},
                              "bucket": bucket(), "cameras": {"type": "array", "items": {"type": "string"}},
                              "current": {"type": "object"}, "previous": {"type": ["object", "null"]}}})
    }
    /// The KPI tiles.
    pub fn kpis() -> Value {
        json!({"type": "object", "required": ["from", "to", "cameras", "kpis"],
               "properties": {"kpis": {"type": "array", "items": {"type": "object",
                   "required": ["key", "label", "unit"],
                   "properties": {"key": {"type": "string"}, "label": {"type": "string"},
                                  "value": {"type": ["number", "null"]}, "previous": {"type": ["number", "null"]},
                                  "change_pct": {"type": ["number", "null"]}, "unit": {"type": "string"}}}}}})
    }
    /// The stored reports.
    pub fn reports() -> Value {
        json!({"type": "array", "items": {"type": "object",
               "required": ["id", "name", "from", "to", "created", "cameras", "files"]}})
    }
    /// A report file name.
    pub fn report_file() -> Value {
        json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,200}\\.(pdf|html)$"})
    }
}
