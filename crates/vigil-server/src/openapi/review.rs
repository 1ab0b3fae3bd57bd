//! JSON schemas of the review routes (`/api/review*`, `/api/events/{id}/feedback`).

use serde_json::{Value, json};

fn severity() -> Value {
    json!({"type": "string", "enum": ["alert", "detection"]})
}
fn verdict() -> Value {
    json!({"type": "string", "enum": ["false_alarm", "true_alarm"]})
}
fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// `alert` or `detection`.
pub fn severity_param() -> Value {
    severity()
}
/// A review page cursor (`<start>.<camera>`).
pub fn cursor() -> Value {
    json!({"type": "string", "maxLength": 200})
}
/// A review page size.
pub fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 200})
}
/// Days counted back.
pub fn days() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 31})
}
/// Weeks reported.
pub fn weeks() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 52})
}
/// true or false.
pub fn boolean() -> Value {
    json!({"type": "boolean"})
}
/// One review item.
pub fn item() -> Value {
    json!({"type": "object",
           "required": ["id", "camera", "start", "end", "severity", "count", "classes", "rules",
                        "snapshot", "events", "description", "open", "reviewed"],
           "properties": {"id": {"type": "string"}, "camera": {"type": "string"},
                          "start": {"type": "integer"}, "end": {"type": "integer"},
                          "severity": severity(), "count": {"type": "integer", "minimum": 1},
                          "classes": strings(), "rules": strings(),
                          "snapshot": {"type": ["string", "null"]}, "events": strings(),
                          "description": {"type": "string"}, "open": {"type": "boolean"},
                          "reviewed": {"type": "boolean"}}})
}
/// GET /api/review.
pub fn page() -> Value {
    json!({"type": "object", "required": ["items", "next_cursor"],
           "properties": {"items": {"type": "array", "items": item()},
                          "next_cursor": {"type": ["string", "null"]}}})
}
/// GET /api/review/count.
pub fn count() -> Value {
    let n = json!({"type": "integer", "minimum": 0});
    json!({"type": "object", "required": ["alert", "detection", "total", "days"],
           "properties": {"alert": n, "detection": n, "total": n, "days": days()}})
}
/// POST /api/review/reviewed body.
pub fn mark_request() -> Value {
    json!({"type": "object", "additionalProperties": false,
           "description": "either events (ids) or until (everything starting up to then, optionally from and on one camera)",
           "properties": {"events": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5000},
                          "until": {"type": "integer"}, "from": {"type": "integer"},
                          "camera": {"type": "string"}, "reviewed": {"type": "boolean"}}})
}
/// POST /api/review/reviewed answer.
pub fn marked() -> Value {
    json!({"type": "object", "required": ["changed"],
           "properties": {"changed": {"type": "integer", "minimum": 0}}})
}
/// POST /api/events/{id}/feedback body.
pub fn feedback_request() -> Value {
    json!({"type": "object", "required": ["verdict"], "additionalProperties": false,
           "properties": {"verdict": verdict(), "note": {"type": "string", "maxLength": 1000}}})
}
/// POST /api/events/{id}/feedback answer.
pub fn feedback() -> Value {
    json!({"type": "object", "required": ["event", "verdict", "note", "camera", "rule"],
           "properties": {"event": {"type": "string"}, "verdict": verdict(),
                          "note": {"type": "string"}, "camera": {"type": "string"},
                          "rule": {"type": "string"}}})
}
/// GET /api/review/feedback.
pub fn report() -> Value {
    let n = json!({"type": "integer", "minimum": 0});
    json!({"type": "object", "required": ["weeks", "rows"],
           "properties": {"weeks": weeks(), "rows": {"type": "array", "items": {
               "type": "object",
               "required": ["week", "camera", "rule", "events", "false_alarms", "true_alarms", "rate"],
               "properties": {"week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"},
                              "camera": {"type": "string"}, "rule": {"type": "string"},
                              "events": n, "false_alarms": n, "true_alarms": n,
                              "rate": {"type": "number", "minimum": 0, "maximum": 1}}}}}})
}
