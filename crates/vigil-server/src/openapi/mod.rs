//! The OpenAPI 3.1 description, generated from the route table: every route, its parameters, bodies,
//! responses and the permission it needs (`x-vigil-permission`).

use crate::routes::{Access, Body, ParamIn, ROUTES};
use serde_json::{Map, Value, json};

/// JSON schemas of the review routes.
pub mod review;
/// JSON schemas of the API's values.
pub mod s;

fn operation_id(verb: &str, path: &str) -> String {
    let mut id = verb.to_string();
    for part in path
        .split(['/', '.', '{', '}', '*'])
        .filter(|p| !p.is_empty())
    {
        id.push('_');
        id.push_str(&part.replace('-', "_"));
    }
    if path == "/" {
        id.push_str("_index");
    }
    id
}

/// The OpenAPI document.
pub fn document() -> Value {
    let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut paths: Map<String, Value> = Map::new();
    for r in ROUTES {
        let path = r.path.replace("{*", "{");
        let mut op = Map::new();
        op.insert("summary".into(), json!(r.summary));
        op.insert(
            "operationId".into(),
            json!(operation_id(r.verb.name(), r.path)),
        );
        op.insert("x-vigil-permission".into(), json!(r.access.name()));
        let security = match r.access {
            Access::Public => json!([]),
            Access::Session => json!([{"session": []}]),
            Access::Perm(_) => json!([{"session": []}, {"token": []}]),
        };
        op.insert("security".into(), security);
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|p| {
                json!({"name": p.name, "in": if p.at == ParamIn::Path {"path"} else {"query"},
                       "required": p.required, "description": p.description, "schema": (p.schema)()})
            })
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(req) = r.request {
            let mut schema = req();
            let optional = schema
                .as_object_mut()
                .and_then(|m| m.remove("x-vigil-optional-body"))
                .is_some();
            op.insert(
                "requestBody".into(),
                json!({"required": !optional, "content": {"application/json": {"schema": schema}}}),
            );
        }
        let ok = match r.response {
            Body::Json(schema) => {
                json!({"description": "success", "content": {"application/json": {"schema": schema()}}})
            }
            Body::Mp4 => {
                json!({"description": "MP4 video", "content": {"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}}}})
            }
            Body::Export => {
                json!({"description": "the export: MP4 video, or a zip holding a signed evidence bundle",
                       "content": {"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}},
                                   "application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}}})
            }
            Body::Jpeg => {
                json!({"description": "JPEG image", "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}})
            }
            Body::Text => {
                json!({"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}})
            }
            Body::Asset => {
                json!({"description": "a file of the web UI", "content": {"*/*": {"schema": {}}}})
            }
            Body::JsonOr(schema, others) => {
                let mut content = Map::new();
                content.insert("application/json".into(), json!({"schema": schema()}));
                for t in others {
                    content.insert(
                        (*t).into(),
                        json!({"schema": {"type": "string", "contentMediaType": t}}),
                    );
                }
                json!({"description": "success (JSON, or the format asked for)", "content": content})
            }
            Body::File(types) => {
                let content: Map<String, Value> = types
                    .iter()
                    .map(|t| {
                        (
                            (*t).to_string(),
                            json!({"schema": {"type": "string", "contentMediaType": t}}),
                        )
                    })
                    .collect();
                json!({"description": "the file", "content": content})
            }
            Body::Empty => json!({"description": "done"}),
            Body::WebSocket => json!({"description": "switching to the WebSocket protocol"}),
        };
        let mut responses = Map::new();
        responses.insert(r.status.to_string(), ok.clone());
        if matches!(r.response, Body::Mp4) {
            let mut partial = ok;
            partial["description"] = json!("part of the MP4 (range request)");
            responses.insert("206".into(), partial);
        }
        responses.insert("default".into(), error.clone());
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert(r.verb.name().into(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Vigil", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Vigil's HTTPS API. Cookie-authenticated writes need the X-CSRF-Token header."},
        "paths": paths,
        "components": {
            "schemas": {"Error": s::error()},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::sessions::COOKIE},
                "token": {"type": "http", "scheme": "bearer"}
            }
        }
    })
}
