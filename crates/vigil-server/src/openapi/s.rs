//! JSON schemas of the API's values (each route's request and response in the route table names one).

use serde_json::{Value, json};

/// The error body.
pub fn error() -> Value {
    json!({"type": "object", "required": ["error", "message"],
           "properties": {"error": {"type": "string"}, "message": {"type": "string"}}})
}
/// A name (camera, kind).
pub fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 128})
}
/// Unix milliseconds.
pub fn unix_ms() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 1_000_000_000_000_000i64})
}
/// A numeric id.
pub fn int_id() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 1})
}
/// An export id.
pub fn export_id() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-f]{32}$"})
}
/// An event id.
pub fn event_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 64})
}
/// Search words.
pub fn search() -> Value {
    json!({"type": "string", "maxLength": 200})
}
/// A page cursor.
pub fn cursor() -> Value {
    json!({"type": "string", "maxLength": 32})
}
/// A page size.
pub fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 1000})
}
/// `crop` or `full`.
pub fn snapshot_kind() -> Value {
    json!({"type": "string", "enum": ["crop", "full"]})
}
/// A UI file path.
pub fn asset_path() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200})
}
/// Any object.
pub fn any_object() -> Value {
    json!({"type": "object"})
}
fn role() -> Value {
    json!({"type": "string", "enum": ["admin", "operator", "viewer", "auditor", "analyst"]})
}
fn camera_scope() -> Value {
    json!({"type": ["array", "null"], "items": name(), "maxItems": 1000})
}
/// `{needed}`.
pub fn setup_status() -> Value {
    json!({"type": "object", "required": ["needed"], "properties": {"needed": {"type": "boolean"}}})
}
/// POST /api/setup.
pub fn setup_request() -> Value {
    json!({"type": "object", "required": ["token", "username", "password"],
           "properties": {"token": {"type": "string"}, "username": {"type": "string"},
                          "password": {"type": "string"}}})
}
/// POST /api/login.
pub fn login_request() -> Value {
    json!({"type": "object", "required": ["username", "password"],
           "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                          "totp": {"type": ["string", "null"]}}})
}
/// A user.
pub fn user() -> Value {
    json!({"type": "object",
           "required": ["id", "username", "role", "cameras", "mfa", "playback", "export", "disabled", "permissions"],
           "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "role": role(),
                          "cameras": camera_scope(), "mfa": {"type": "boolean"},
                          "playback": {"type": "boolean"}, "export": {"type": "boolean"},
                          "disabled": {"type": "boolean"}, "created_ms": {"type": "integer"},
                          "permissions": {"type": "array", "items": {"type": "string"}}}})
}
/// Users.
pub fn users() -> Value {
    json!({"type": "array", "items": user()})
}
/// `{user, csrf}`.
pub fn me() -> Value {
    json!({"type": "object", "required": ["user", "csrf", "mfa_enrollment_required"],
           "properties": {"user": user(), "csrf": {"type": "string"},
                          "mfa_enrollment_required": {"type": "boolean"}}})
}
/// MFA enrolment.
pub fn enrollment() -> Value {
    json!({"type": "object", "required": ["secret", "otpauth_url", "qr_svg"],
           "properties": {"secret": {"type": "string"}, "otpauth_url": {"type": "string"},
                          "qr_svg": {"type": "string"}}})
}
/// POST /api/me/mfa/enroll: nothing while MFA is off; to replace an authenticator, the password
/// and a current code (TOTP or recovery code). The body may be left out.
pub fn enroll_request() -> Value {
    json!({"type": "object", "x-vigil-optional-body": true,
           "properties": {"password": {"type": "string"}, "code": {"type": "string"}},
           "additionalProperties": false})
}
/// `{code}`.
pub fn code_request() -> Value {
    json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}})
}
/// POST /api/me/password.
pub fn password_request() -> Value {
    json!({"type": "object", "required": ["current", "new"],
           "properties": {"current": {"type": "string"}, "new": {"type": "string"}}})
}
/// `{recovery_codes}`.
pub fn recovery_codes() -> Value {
    json!({"type": "object", "required": ["recovery_codes"],
           "properties": {"recovery_codes": {"type": "array", "items": {"type": "string"}}}})
}
/// Cameras.
pub fn cameras() -> Value {
    json!({"type": "array", "items": {"type": "object",
           "required": ["name", "recording", "analysing", "online"],
           "properties": {"name": {"type": "string"}, "recording": {"type": "boolean"},
                          "analysing": {"type": "boolean"}, "online": {"type": "boolean"},
                          "sensitive": {"type": "boolean", "description": "its recordings need a second user's approval"}}}})
}
/// Time ranges.
pub fn ranges() -> Value {
    json!({"type": "array", "items": {"type": "object", "required": ["start", "end"],
           "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}}})
}
/// Where a PTZ camera points.
fn ptz_status() -> Value {
    json!({"type": "object", "required": ["pan", "tilt", "zoom", "moving"],
           "properties": {"pan": {"type": ["number", "null"]}, "tilt": {"type": ["number", "null"]},
                          "zoom": {"type": ["number", "null"]}, "moving": {"type": "boolean"},
                          "error": {"type": ["string", "null"]}}})
}
fn ptz_preset() -> Value {
    json!({"type": "object", "required": ["token", "name"],
           "properties": {"token": {"type": "string"}, "name": {"type": "string"}}})
}
/// GET /api/cameras/{camera}/ptz.
pub fn ptz() -> Value {
    json!({"type": "object", "required": ["camera", "ptz"],
           "properties": {"camera": {"type": "string"}, "ptz": {"type": "boolean"},
                          "reason": {"type": "string", "description": "why there is no PTZ"},
                          "profile": {"type": "string"},
                          "presets": {"type": "array", "items": ptz_preset()},
                          "status": ptz_status(),
                          "autotrack": {"type": ["object", "null"], "required": ["preset", "held"],
                                        "description": "the camera follows people by itself",
                                        "properties": {"preset": {"type": "string"},
                                                       "held": {"type": "boolean", "description": "paused: a person moved it within the last 30 s"}}}}})
}
/// POST /api/cameras/{camera}/ptz: one of move, stop, preset, set_preset, home.
pub fn ptz_command() -> Value {
    let unit = json!({"type": "number", "minimum": -1, "maximum": 1});
    json!({"type": "object", "minProperties": 1, "additionalProperties": false,
           "properties": {
               "move": {"type": "array", "items": unit, "minItems": 3, "maxItems": 3,
                        "description": "pan, tilt, zoom: velocities, or a translation with relative"},
               "seconds": {"type": "number", "minimum": 0.1, "maximum": 10,
                           "description": "how long a continuous move lasts at most (default 1)"},
               "relative": {"type": "boolean"},
               "stop": {"const": true},
               "preset": {"type": "string", "minLength": 1, "maxLength": 64,
                          "description": "token or name"},
               "set_preset": {"type": "string", "minLength": 1, "maxLength": 64},
               "home": {"const": true}}})
}
/// What a PTZ command did.
pub fn ptz_done() -> Value {
    json!({"type": "object", "required": ["camera", "action"],
           "properties": {"camera": {"type": "string"},
                          "action": {"type": "string", "enum": ["move", "stop", "preset", "preset_set", "home"]},
                          "preset": {"anyOf": [ptz_preset(), {"type": "null"}]},
                          "status": {"anyOf": [ptz_status(), {"type": "null"}]}}})
}
/// POST /api/exports.
pub fn export_request() -> Value {
    json!({"type": "object", "required": ["camera", "start", "end"],
           "properties": {"camera": name(), "start": unix_ms(), "end": unix_ms(),
                          "evidence": {"type": "boolean"},
                          "case": {"type": "string", "maxLength": 200},
                          "reason": {"type": "string", "maxLength": 200},
                          "case_id": int_id(),
                          "redact": {"type": "boolean", "description":
                              "blur faces and licence plates (default: yes unless the caller holds export_unredacted; false needs it)"}}})
}
/// An evidence hold.
pub fn hold() -> Value {
    json!({"type": "object", "required": ["id", "camera", "start", "end", "note"],
           "properties": {"id": int_id(), "camera": {"type": ["string", "null"]},
                          "start": {"type": "integer"}, "end": {"type": "integer"}, "note": {"type": "string"}}})
}
/// `{holds: [...]}`.
pub fn hold_list() -> Value {
    json!({"type": "object", "required": ["holds"], "properties": {"holds": {"type": "array", "items": hold()}}})
}
/// POST /api/holds body.
pub fn new_hold() -> Value {
    json!({"type": "object", "required": ["camera", "start", "end", "note"],
           "properties": {"camera": name(), "start": unix_ms(), "end": unix_ms(),
                          "note": {"type": "string", "minLength": 1, "maxLength": 200}}})
}
/// `{id}` of something created.
pub fn created_id() -> Value {
    json!({"type": "object", "required": ["id"], "properties": {"id": int_id()}})
}
/// `{people: [...]}`: who is enrolled.
pub fn people() -> Value {
    let person = json!({"type": "object", "required": ["id", "name", "list", "templates", "enrolled", "by"],
        "properties": {"id": int_id(), "name": {"type": "string"}, "list": {"type": "string"},
                       "templates": {"type": "integer"}, "enrolled": {"type": "integer"}, "by": {"type": "string"}}});
    json!({"type": "object", "required": ["people"], "properties": {"people": {"type": "array", "items": person}}})
}
/// POST /api/integrity/checks body.
pub fn new_integrity_check() -> Value {
    json!({"type": "object", "properties": {"camera": name(), "start": unix_ms(), "end": unix_ms()}})
}
/// A recording integrity check.
pub fn integrity_check() -> Value {
    let problem = json!({"type": "object", "required": ["camera", "stream", "fault", "detail"],
        "properties": {"camera": {"type": "string"}, "stream": {"type": "string"},
                       "seq": {"type": ["integer", "null"]}, "start_90k": {"type": ["integer", "null"]},
                       "file": {"type": ["string", "null"]}, "fault": {"type": "string"}, "detail": {"type": "string"}}});
    let opt_int = json!({"type": ["integer", "null"]});
    json!({"type": "object", "required": ["id", "requested_by", "started", "state", "hashed", "total"],
           "properties": {"id": int_id(), "requested_by": {"type": "string"}, "started": {"type": "integer"},
                          "ended": opt_int, "camera": {"type": ["string", "null"]}, "start": opt_int, "end": opt_int,
                          "state": {"type": "string", "enum": ["running", "done", "failed"]},
                          "hashed": {"type": "integer"}, "total": {"type": "integer"},
                          "report": {"type": ["object", "null"], "properties": {
                              "segments": {"type": "integer"}, "bytes": {"type": "integer"},
                              "heads": {"type": "integer"}, "problems": {"type": "array", "items": problem}}},
                          "error": {"type": ["string", "null"]}}})
}
/// `{checks: [...]}`.
pub fn integrity_check_list() -> Value {
    json!({"type": "object", "required": ["checks"], "properties": {"checks": {"type": "array", "items": integrity_check()}}})
}
/// POST /api/erasures body.
pub fn new_erasure() -> Value {
    json!({"type": "object", "required": ["camera", "start", "end", "reason"],
           "properties": {"camera": name(), "start": unix_ms(), "end": unix_ms(),
                          "reason": {"type": "string", "minLength": 1, "maxLength": 200}}})
}
/// POST /api/erasures/person body.
pub fn person_erasure() -> Value {
    json!({"type": "object", "required": ["name", "reason"],
           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                          "reason": {"type": "string", "minLength": 1, "maxLength": 200}}})
}
/// An erasure: its audit entry and report (footage: times in RFC 3339 UTC; biometric: the person's
/// watchlist and templates deleted).
pub fn erasure() -> Value {
    let time = json!({"type": "string"});
    let segment = json!({"type": "object", "required": ["start", "end", "bytes", "file"],
        "properties": {"start": time, "end": time, "bytes": {"type": "integer"}, "file": {"type": "string"}}});
    json!({"type": "object", "required": ["id", "at", "by", "kind", "report"],
           "properties": {"id": int_id(), "at": {"type": "integer"}, "by": {"type": "string"},
                          "kind": {"type": "string", "enum": ["footage", "biometric"]},
                          "camera": {"type": "string"}, "person": {"type": "string"},
                          "report": {"type": "object", "properties": {
                              "from": time, "to": time,
                              "erased": {"type": ["array", "null"], "items": time},
                              "segments": {"type": "array", "items": segment},
                              "bytes": {"type": "integer"}, "events": {"type": "integer"},
                              "snapshots": {"type": "integer"}, "reason": {"type": "string"},
                              "list": {"type": "string"}, "templates": {"type": "integer"}}}}})
}
/// An erasure by blurring: what was asked, progress, then the erasure (as `erasure`).
pub fn blur_job() -> Value {
    json!({"type": "object", "required": ["id", "requested_by", "started", "camera", "start", "end", "reason", "state", "phase"],
           "properties": {"id": int_id(), "requested_by": {"type": "string"}, "started": unix_ms(),
                          "ended": {"type": ["integer", "null"]}, "camera": name(), "start": unix_ms(),
                          "end": unix_ms(), "reason": {"type": "string"},
                          "state": {"type": "string", "enum": ["running", "done", "failed"]},
                          "phase": {"type": "string", "enum": ["starting", "verifying", "blurring"]},
                          "verified": {"type": "integer"}, "verify_total": {"type": "integer"},
                          "segment": {"type": "integer"}, "segments": {"type": "integer"},
                          "fraction": {"type": "number"},
                          "report": {"anyOf": [erasure(), {"type": "null"}]},
                          "error": {"type": ["string", "null"]}}})
}
/// `{jobs: [...]}`.
pub fn blur_job_list() -> Value {
    json!({"type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": blur_job()}}})
}
/// `{erasures: [...]}`.
pub fn erasure_list() -> Value {
    json!({"type": "object", "required": ["erasures"], "properties": {"erasures": {"type": "array", "items": erasure()}}})
}
/// Retention maximums.
pub fn retention_limits() -> Value {
    let days = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 36500});
    json!({"type": "object", "properties": {"continuous_days": days, "event_days": days, "hold_days": days}})
}
/// `{limits}`.
pub fn retention() -> Value {
    json!({"type": "object", "required": ["limits"], "properties": {"limits": retention_limits()}})
}
/// A request for a sensitive camera's recordings.
pub fn approval() -> Value {
    json!({"type": "object", "required": ["id", "requested_by", "camera", "start", "end", "action", "reason", "state", "requested"],
           "properties": {"id": int_id(), "requested_by": {"type": "string"}, "camera": {"type": "string"},
                          "start": {"type": "integer"}, "end": {"type": "integer"},
                          "action": {"type": "string", "enum": ["playback", "export"]},
                          "reason": {"type": "string"},
                          "state": {"type": "string", "enum": ["pending", "approved", "denied", "expired"]},
                          "requested": {"type": "integer"}, "decided_by": {"type": "string"},
                          "decided": {"type": "integer"}}})
}
/// `{approvals: [...]}`.
pub fn approval_list() -> Value {
    json!({"type": "object", "required": ["approvals"], "properties": {"approvals": {"type": "array", "items": approval()}}})
}
/// POST /api/approvals body.
pub fn approval_request() -> Value {
    json!({"type": "object", "required": ["camera", "start", "end", "action", "reason"],
           "properties": {"camera": name(), "start": unix_ms(), "end": unix_ms(),
                          "action": {"type": "string", "enum": ["playback", "export"]},
                          "reason": {"type": "string", "minLength": 1, "maxLength": 200}}})
}
/// A case.
pub fn case() -> Value {
    json!({"type": "object", "required": ["id", "title", "description", "created_by", "created", "exports"],
           "properties": {"id": int_id(), "title": {"type": "string"}, "description": {"type": "string"},
                          "created_by": {"type": "string"}, "created": {"type": "integer"},
                          "exports": {"type": "integer"}}})
}
/// `{cases: [...]}`.
pub fn case_list() -> Value {
    json!({"type": "object", "required": ["cases"], "properties": {"cases": {"type": "array", "items": case()}}})
}
/// A case with its notes, exports and chain of custody.
pub fn case_detail() -> Value {
    json!({"type": "object", "required": ["case", "notes", "exports", "custody"],
           "properties": {"case": case(),
                          "notes": {"type": "array", "items": {"type": "object",
                              "required": ["author", "at", "text"],
                              "properties": {"author": {"type": "string"}, "at": {"type": "integer"},
                                             "text": {"type": "string"}}}},
                          "exports": {"type": "array", "items": export_job()},
                          "custody": {"type": "array", "items": {"type": "object"}}}})
}
/// POST /api/cases body.
pub fn new_case() -> Value {
    json!({"type": "object", "required": ["title"],
           "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200},
                          "description": {"type": "string", "maxLength": 4000}}})
}
/// POST /api/cases/{id}/notes body.
pub fn new_note() -> Value {
    json!({"type": "object", "required": ["text"],
           "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 4000}}})
}
/// `{id}`.
pub fn export_started() -> Value {
    json!({"type": "object", "required": ["id"], "properties": {"id": export_id()}})
}
/// An export job.
pub fn export_job() -> Value {
    json!({"type": "object", "required": ["id", "camera", "state", "progress", "bytes"],
           "properties": {"id": export_id(), "camera": {"type": "string"},
                          "start": {"type": "integer"}, "end": {"type": "integer"},
                          "state": {"type": "string", "enum": ["running", "done", "failed", "expired"]},
                          "progress": {"type": "number", "minimum": 0, "maximum": 1},
                          "bytes": {"type": "integer"}, "error": {"type": "string"},
                          "redaction": {"type": "object", "description":
                              "what was blurred, masked or burned in: asked, reencoded, frames, frames_with_faces, faces, frames_with_plates, plates, masks, encoder"}}})
}
/// A page of events.
/// One event as the API lists it.
pub fn event() -> Value {
    json!({"type": "object",
           "required": ["id", "camera", "rule", "kind", "class", "start", "end", "description", "has_snapshot"],
           "properties": {"id": {"type": "string"}, "camera": {"type": "string"},
                          "rule": {"type": "string"}, "kind": {"type": "string"},
                          "facts": {"type": "object", "required": ["type"],
                                    "properties": {"type": {"type": "string"}}},
                          "class": {"type": "string"}, "start": {"type": "integer"},
                          "end": {"type": ["integer", "null"]}, "description": {"type": "string"},
                          "has_snapshot": {"type": "boolean"}, "zone": {"type": ["string", "null"]},
                          "line": {"type": ["string", "null"]}, "open": {"type": "boolean"},
                          "attributes": attributes(),
                          "severity": {"type": "string", "enum": ["alert", "detection"]}}})
}
/// What an event's main object looked like and how it moved; each field only when known (`{}`: nothing).
pub fn attributes() -> Value {
    let colour = json!({"type": "string", "enum": ["black", "white", "grey", "red", "orange", "yellow",
                                                   "green", "blue", "purple", "pink", "brown"]});
    json!({"type": "object",
           "description": "the main object's attributes (issue 13; see docs/attributes.md)",
           "properties": {"upper_colour": {"description": "people: dominant colour of the upper body", "allOf": [colour]},
                          "lower_colour": {"description": "people: dominant colour of the lower body", "allOf": [colour]},
                          "colour": {"description": "vehicles: dominant colour of the body", "allOf": [colour]},
                          "size": {"type": "number", "description": "median box height / frame height"},
                          "speed": {"type": "number", "description": "median speed, frame heights per second"},
                          "direction": {"type": "string", "enum": ["left", "right", "up", "down", "still"]},
                          "zones": {"type": "array", "items": {"type": "string"},
                                    "description": "zones visited, in the order first entered"}}})
}
/// A page of events.
pub fn event_page() -> Value {
    json!({"type": "object", "required": ["events", "next"],
           "properties": {"next": {"type": ["string", "null"]},
                          "events": {"type": "array", "items": event()}}})
}
/// GET /api/plates: matching plate events, how many were looked at, whether all were.
pub fn plate_search() -> Value {
    json!({"type": "object", "required": ["events", "scanned", "complete"],
           "properties": {"events": {"type": "array", "items": event()},
                          "scanned": {"type": "integer"}, "complete": {"type": "boolean"}}})
}
/// GET /api/search: the parsed query, the results best first, how many there were and were looked at.
pub fn search_results() -> Value {
    let hit = json!({"type": "object",
        "required": ["score", "why", "type", "id", "camera", "start_ms", "end_ms", "class", "classes", "tracks", "description"],
        "properties": {"score": {"type": "number"}, "why": {"type": "array", "items": {"type": "string"}},
                       "type": {"type": "string", "enum": ["event", "track"]}, "id": {"type": "string"},
                       "camera": {"type": "string"}, "start_ms": {"type": "integer"}, "end_ms": {"type": "integer"},
                       "class": {"type": "string"}, "classes": {"type": "array", "items": {"type": "string"}},
                       "kind": {"type": "string"}, "rule": {"type": "string"}, "place": {"type": "string"},
                       "tracks": {"type": "array", "items": {"type": "integer"}}, "attributes": {"type": "object"},
                       "description": {"type": "string"}, "plate": {"type": "string"}, "person": {"type": "string"}}});
    json!({"type": "object", "required": ["query", "results", "total", "looked_at", "complete"],
           "properties": {"query": {"type": "object"}, "results": {"type": "array", "items": hit},
                          "total": {"type": "integer"}, "looked_at": {"type": "integer"},
                          "complete": {"type": "boolean"}}})
}
/// GET /api/search/similar: appearances like the event's person, best first.
pub fn similar_results() -> Value {
    let alike = json!({"type": "object", "required": ["camera", "track", "first_ms", "last_ms", "similarity", "events"],
        "properties": {"camera": {"type": "string"}, "track": {"type": "integer"}, "first_ms": {"type": "integer"},
                       "last_ms": {"type": "integer"}, "similarity": {"type": "number"},
                       "events": {"type": "array", "items": {"type": "string"}}}});
    json!({"type": "object", "required": ["results", "indexed"],
           "properties": {"results": {"type": "array", "items": alike}, "indexed": {"type": "integer"}}})
}
/// One plate list.
pub fn plate_list() -> Value {
    let source = json!({"type": "string", "enum": ["config", "ui"]});
    let plate = json!({"type": "object", "required": ["plate", "note", "source", "added", "by"],
        "properties": {"plate": {"type": "string"}, "note": {"type": "string"}, "source": source,
                       "added": {"type": ["integer", "null"]}, "by": {"type": ["string", "null"]}}});
    json!({"type": "object", "required": ["name", "alert", "source", "plates"],
           "properties": {"name": {"type": "string"}, "alert": alert_level(), "source": source,
                          "plates": {"type": "array", "items": plate}}})
}
/// GET /api/plates/lists.
pub fn plate_lists() -> Value {
    json!({"type": "object", "required": ["lists"],
           "properties": {"lists": {"type": "array", "items": plate_list()}}})
}
/// POST /api/plates/lists/{list}/plates body.
pub fn new_listed_plate() -> Value {
    json!({"type": "object", "required": ["plate"], "additionalProperties": false,
           "properties": {"plate": {"type": "string", "minLength": 2, "maxLength": 32},
                          "note": {"type": "string", "maxLength": 200}, "alert": alert_level()}})
}
/// An alert level.
pub fn alert_level() -> Value {
    json!({"type": "string", "enum": ["none", "low", "normal", "high"]})
}
/// A look-around window in seconds (up to a week).
pub fn window_seconds() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 604800})
}
/// POST /api/faces/people body.
pub fn enrolment() -> Value {
    json!({"type": "object", "required": ["name"],
           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                          "list": {"type": "string", "minLength": 1, "maxLength": 100},
                          "photo": {"type": "string", "description": "base64 of a JPEG or PNG"},
                          "event": {"type": "string"}}})
}
/// POST /api/faces/people answer.
pub fn enrolled() -> Value {
    json!({"type": "object", "required": ["name", "list", "templates"],
           "properties": {"name": {"type": "string"}, "list": {"type": "string"},
                          "templates": {"type": "integer"}}})
}
/// POST /api/faces/identify body.
pub fn identify() -> Value {
    json!({"type": "object", "required": ["photo"],
           "properties": {"photo": {"type": "string", "description": "base64 of a JPEG or PNG"}}})
}
/// POST /api/faces/identify answer.
pub fn identified() -> Value {
    json!({"type": "object", "required": ["match", "threshold"],
           "properties": {"threshold": {"type": "number"},
                          "match": {"type": ["object", "null"], "properties": {
                              "name": {"type": "string"}, "list": {"type": "string"},
                              "score": {"type": "number"}}}}})
}
/// A similarity, 0 to 1.
pub fn similarity() -> Value {
    json!({"type": "number", "minimum": 0, "maximum": 1})
}
/// GET /api/events/{id}/elsewhere.
pub fn sightings() -> Value {
    json!({"type": "object", "required": ["sightings"],
           "properties": {"sightings": {"type": "array", "items": {"type": "object",
               "required": ["camera", "track", "first_ms", "last_ms", "similarity", "transit", "score", "events"],
               "properties": {"camera": {"type": "string"}, "track": {"type": "integer"},
                              "first_ms": {"type": "integer"}, "last_ms": {"type": "integer"},
                              "similarity": {"type": "number"},
                              "transit": {"type": "string", "enum": ["fits", "too_soon", "late", "unlinked", "same_camera"]},
                              "score": {"type": "number"},
                              "events": {"type": "array", "items": {"type": "string"}}}}}}})
}
/// `match` of a plate search.
pub fn plate_match() -> Value {
    json!({"type": "string", "enum": ["exact", "prefix", "fuzzy"]})
}
/// POST /api/users.
pub fn new_user() -> Value {
    json!({"type": "object", "required": ["username", "password", "role"],
           "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                          "role": role(), "cameras": camera_scope(),
                          "playback": {"type": "boolean"}, "export": {"type": "boolean"}},
           "additionalProperties": false})
}
/// PATCH /api/users/{id}.
pub fn user_patch() -> Value {
    json!({"type": "object",
           "properties": {"role": role(), "cameras": camera_scope(), "playback": {"type": "boolean"},
                          "export": {"type": "boolean"}, "password": {"type": "string"},
                          "disabled": {"type": "boolean"}},
           "additionalProperties": false})
}
fn token() -> Value {
    json!({"type": "object", "required": ["id", "name", "user", "scopes", "created_ms"],
           "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                          "user": {"type": "string"},
                          "scopes": {"type": "array", "items": {"type": "string"}},
                          "created_ms": {"type": "integer"},
                          "last_used_ms": {"type": ["integer", "null"]}}})
}
/// A camera group with its layout.
pub fn group() -> Value {
    json!({"type": "object", "required": ["id", "name", "cameras", "columns", "created_ms"],
           "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                          "cameras": {"type": "array", "items": {"type": "string"}},
                          "columns": {"type": "integer", "minimum": 0, "maximum": 8},
                          "created_ms": {"type": "integer"}}})
}
/// Camera groups.
pub fn groups() -> Value {
    json!({"type": "array", "items": group()})
}
/// POST /api/groups, PATCH /api/groups/{id}.
pub fn group_request() -> Value {
    json!({"type": "object", "required": ["name", "cameras"],
           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64},
                          "cameras": {"type": "array", "minItems": 1, "maxItems": 64,
                                      "items": {"type": "string"}},
                          "columns": {"type": "integer", "minimum": 0, "maximum": 8}},
           "additionalProperties": false})
}
fn display() -> Value {
    json!({"type": "object", "required": ["id", "name", "group_id", "group", "created_by", "created_ms"],
           "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                          "group_id": {"type": "integer"}, "group": {"type": "string"},
                          "created_by": {"type": "string"}, "created_ms": {"type": "integer"},
                          "last_used_ms": {"type": ["integer", "null"]}}})
}
/// Wall displays.
pub fn displays() -> Value {
    json!({"type": "array", "items": display()})
}
/// POST /api/displays.
pub fn display_request() -> Value {
    json!({"type": "object", "required": ["name", "group_id"],
           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64},
                          "group_id": {"type": "integer"}},
           "additionalProperties": false})
}
/// A new wall display with its secret and the address a screen opens.
pub fn new_display() -> Value {
    json!({"type": "object", "required": ["display", "secret", "path"],
           "properties": {"display": display(), "secret": {"type": "string"},
                          "path": {"type": "string"}}})
}
/// POST /api/display/login.
pub fn display_login() -> Value {
    json!({"type": "object", "required": ["secret"],
           "properties": {"secret": {"type": "string"}}, "additionalProperties": false})
}
/// GET /api/display.
pub fn display_self() -> Value {
    json!({"type": "object", "required": ["id", "name", "group"],
           "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                          "group": {"anyOf": [group(), {"type": "null"}]}}})
}
/// A configuration history id (`<unix ms>-<version prefix>.toml`).
pub fn config_version_id() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{13}-[0-9a-f]{12}\\.toml$"})
}
/// The configuration file.
pub fn config_doc() -> Value {
    json!({"type": "object", "required": ["path", "version", "text", "cameras"],
           "properties": {"path": {"type": "string"}, "version": {"type": "string"},
                          "text": {"type": "string"}, "cameras": {"type": ["array", "null"]}}})
}
/// A configuration text.
pub fn config_text() -> Value {
    json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}},
           "additionalProperties": false})
}
/// A configuration text and the version it replaces.
pub fn config_save() -> Value {
    json!({"type": "object", "required": ["text", "version"],
           "properties": {"text": {"type": "string"}, "version": {"type": "string"}},
           "additionalProperties": false})
}
fn config_problem() -> Value {
    json!({"type": "object", "required": ["line", "column", "field", "message", "source_line"],
           "properties": {"line": {"type": "integer"}, "column": {"type": "integer"},
                          "field": {"type": "string"}, "message": {"type": "string"},
                          "source_line": {"type": "string"}}})
}
/// What `vigil config check` would say.
pub fn config_check() -> Value {
    json!({"type": "object", "required": ["ok", "problems"],
           "properties": {"ok": {"type": "boolean"},
                          "problems": {"type": "array", "items": config_problem()}}})
}
/// What saving did.
pub fn config_saved() -> Value {
    json!({"type": "object", "required": ["version", "applied", "cameras", "detail"],
           "properties": {"version": {"type": "string"},
                          "applied": {"type": "string", "enum": ["nothing", "rules", "restart"]},
                          "cameras": {"type": "array", "items": {"type": "string"}},
                          "detail": {"type": "string"}}})
}
/// A change made through a form.
pub fn config_edit() -> Value {
    json!({"type": "object", "required": ["version", "edit"],
           "properties": {"version": {"type": "string"},
                          "edit": {"type": "string", "enum": ["geometry", "set_rule", "remove_rule", "add_camera", "remove_camera"]},
                          "camera": {}, "geometry": {"type": "object"}, "rule": {"type": "object"},
                          "name": {"type": "string"}}})
}
/// The versions replaced.
pub fn config_history() -> Value {
    json!({"type": "object", "required": ["versions"],
           "properties": {"versions": {"type": "array", "items": {"type": "object",
               "required": ["id", "replaced_ms", "version", "bytes"],
               "properties": {"id": {"type": "string"}, "replaced_ms": {"type": "integer"},
                              "version": {"type": "string"}, "bytes": {"type": "integer"}}}}}})
}
/// A stream to probe.
pub fn probe_request() -> Value {
    json!({"type": "object", "required": ["url"],
           "properties": {"url": {"type": "string"}, "username": {"type": "string"},
                          "password": {"type": "string"}},
           "additionalProperties": false})
}
/// POST /api/config/preview.
pub fn preview_request() -> Value {
    json!({"type": "object", "required": ["camera"],
           "properties": {"camera": {"type": "string"},
                          "minutes": {"type": "number", "minimum": 0.25, "maximum": 30},
                          "text": {"type": "string"},
                          "edits": {"type": "array", "items": {"type": "object"}}},
           "additionalProperties": false})
}
/// A rule preview job.
pub fn preview_job() -> Value {
    json!({"type": "object", "required": ["id", "state", "camera", "minutes", "done"],
           "properties": {"id": {"type": "integer"}, "state": {"type": "string"},
                          "camera": {"type": "string"}, "minutes": {"type": "number"},
                          "done": {"type": "number"}, "report": {"type": ["object", "null"]},
                          "error": {"type": ["string", "null"]}}})
}
fn track_path() -> Value {
    json!({"type": "object",
           "required": ["camera", "track", "class", "first_ms", "last_ms", "points"],
           "properties": {"camera": {"type": "string"}, "track": {"type": "integer"},
                          "class": {"type": "string"}, "first_ms": {"type": "integer"},
                          "last_ms": {"type": "integer"},
                          "points": {"type": "array", "items": {"type": "object",
                              "required": ["ms", "x", "y", "w", "h"],
                              "properties": {"ms": {"type": "integer"}, "x": {"type": "number"},
                                             "y": {"type": "number"}, "w": {"type": "number"},
                                             "h": {"type": "number"}}}},
                          "attributes": attributes()}})
}
/// Tracks over a recorded range.
pub fn track_paths() -> Value {
    json!({"type": "object", "required": ["paths"],
           "properties": {"paths": {"type": "array", "items": track_path()}}})
}
/// An event's object's lifecycle.
pub fn lifecycle() -> Value {
    json!({"type": "object", "required": ["paths", "events"],
           "properties": {"paths": {"type": "array", "items": track_path()},
                          "events": {"type": "array", "items": {"type": "object"}}}})
}
/// A thumbnail's width.
pub fn thumbnail_width() -> Value {
    json!({"type": "integer", "minimum": 32, "maximum": 640})
}
/// ONVIF discovery.
pub fn discover_request() -> Value {
    json!({"type": "object",
           "properties": {"seconds": {"type": "number", "minimum": 0.5, "maximum": 15},
                          "address": {"type": "string"}, "username": {"type": "string"},
                          "password": {"type": "string"}},
           "additionalProperties": false})
}
/// ONVIF cameras found.
pub fn discovered() -> Value {
    json!({"type": "object", "required": ["devices"],
           "properties": {"devices": {"type": "array", "items": {"type": "object"}}}})
}
/// What a stream sends.
pub fn stream_probe() -> Value {
    json!({"type": "object", "required": ["codec", "width", "height", "fps", "frames"],
           "properties": {"codec": {"type": "string"}, "width": {"type": "integer"},
                          "height": {"type": "integer"}, "fps": {"type": "number"},
                          "frames": {"type": "integer"}}})
}
/// Tokens.
pub fn tokens() -> Value {
    json!({"type": "array", "items": token()})
}
/// POST /api/tokens.
pub fn token_request() -> Value {
    json!({"type": "object", "required": ["name", "scopes"],
           "properties": {"name": {"type": "string"},
                          "scopes": {"type": "array", "items": {"type": "string",
                              "enum": ["cameras", "live", "playback", "export", "export_unredacted", "events", "system", "metrics", "audit", "plate_lists", "ptz"]}}}})
}
/// A new token with its secret.
pub fn new_token() -> Value {
    json!({"type": "object", "required": ["token", "secret"],
           "properties": {"token": token(), "secret": {"type": "string"}}})
}
/// A page of the audit log.
pub fn audit_page() -> Value {
    json!({"type": "object", "required": ["entries"],
           "properties": {"entries": {"type": "array", "items": {"type": "object",
               "required": ["id", "at", "user", "ip", "action", "target", "detail"],
               "properties": {"id": {"type": "integer"}, "at": {"type": "integer"},
                              "user": {"type": "string"}, "ip": {"type": "string"},
                              "action": {"type": "string"}, "target": {"type": "string"},
                              "detail": {"type": "string"}}}}}})
}
/// GET /api/system.
pub fn system() -> Value {
    json!({"type": "object", "required": ["version", "uptime_s", "cameras", "detector", "storage"],
           "properties": {"version": {"type": "string"}, "uptime_s": {"type": "number"},
                          "cameras": {"type": "array", "items": {"type": "object",
                              "required": ["name", "fps_in", "fps_analysed", "skipped", "reconnects",
                                           "recording_bytes", "online", "fps_target"],
                              "properties": {"fps_target": {"type": "number"},
                                             "analysis_state": {"type": ["string", "null"]}}}},
                          "detector": {"type": "object",
                              "required": ["latency_ms_p50", "latency_ms_p99"],
                              "properties": {"fair_fps": {"type": ["number", "null"]}}},
                          "storage": {"type": "array"},
                          "mqtt": {"type": ["object", "null"],
                              "required": ["state", "client_id", "reconnects", "queued"]}}})
}
/// GET /api/summary: sentences with confidence and citations (vigil-summary).
pub fn summary() -> Value {
    let citation = json!({"type": "object", "required": ["n", "camera", "from_ms", "to_ms", "footage"],
        "properties": {"n": {"type": "integer"}, "event": {"type": "string"}, "camera": {"type": "string"},
                       "from_ms": {"type": "integer"}, "to_ms": {"type": "integer"},
                       "footage": {"type": "string", "enum": ["recorded", "partial", "gone"]},
                       "clip": {"type": "string"}, "ui": {"type": "string"}, "snapshot": {"type": "string"}}});
    json!({"type": "object", "required": ["from_ms", "to_ms", "period", "cameras", "empty", "events", "sentences"],
           "properties": {"from_ms": {"type": "integer"}, "to_ms": {"type": "integer"},
                          "period": {"type": "string"}, "cameras": {"type": "array", "items": {"type": "string"}},
                          "empty": {"type": "boolean"}, "events": {"type": "integer"},
                          "sentences": {"type": "array", "items": {"type": "object",
                              "required": ["kind", "text", "confidence", "citations"],
                              "properties": {"kind": {"type": "string", "enum": ["headline", "count", "event", "incident", "coverage"]},
                                             "text": {"type": "string"},
                                             "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                                             "citations": {"type": "array", "items": citation}}}},
                          "rewrite": {"type": "object"}}})
}
