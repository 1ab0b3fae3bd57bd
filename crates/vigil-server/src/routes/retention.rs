//! Retention maximums (`/api/retention`): read by anyone who sees the system page, set by the privacy
//! auditor alone (`privacy`: the auditor role, not admins). The store applies them at its next pass.

use super::blocking;
use super::extract::ApiJson;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Principal};
use axum::{Extension, Json, extract::State};
use serde_json::{Value, json};
use vigil_store::RetentionLimits;

/// Largest maximum accepted (100 years).
const MAX_DAYS: u32 = 36_500;

/// GET /api/retention.
pub async fn get_limits(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let limits = super::store_of(&ctx)?.retention_limits();
    Ok(Json(json!({ "limits": limits })))
}

/// POST /api/retention: replaces the maximums (a class left out or `null` has none); audited as
/// `retention.limits`.
pub async fn set_limits(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(limits): ApiJson<RetentionLimits>,
) -> ApiResult<Json<Value>> {
    let days = [limits.continuous_days, limits.event_days, limits.hold_days];
    if days.iter().flatten().any(|&d| d == 0 || d > MAX_DAYS) {
        return Err(ApiError::bad_request(format!(
            "each maximum is 1 to {MAX_DAYS} days, or null for none"
        )));
    }
    let store = super::store_of(&ctx)?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    blocking(move || {
        store.set_retention_limits(&limits, &who)?;
        let detail = serde_json::to_string(&limits).unwrap_or_default();
        sec.audit(&who, &ip, "retention.limits", "retention", &detail)?;
        Ok(())
    })
    .await?;
    Ok(Json(json!({ "limits": limits })))
}
