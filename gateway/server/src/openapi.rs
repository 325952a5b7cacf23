//! OpenAPI 3 document of the HTTP/JSON API, generated from the proto descriptors (so it can never
//! drift from the messages) and checked in as docs/openapi.json (a test keeps them equal).

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value, json};

fn schema_name(full: &str) -> String {
    // ".passerelle.v1.Target.Foo" → "Target.Foo"; well-known types handled by the caller.
    full.trim_start_matches(".passerelle.v1.").to_string()
}

fn scalar(t: Type) -> Value {
    match t {
        Type::Double | Type::Float => json!({"type": "number"}),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 | Type::Uint32 | Type::Fixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        // proto3 JSON writes 64-bit integers as strings.
        Type::Int64 | Type::Sint64 | Type::Sfixed64 | Type::Uint64 | Type::Fixed64 => {
            json!({"type": "string", "format": "int64"})
        }
        Type::Bool => json!({"type": "boolean"}),
        Type::String => json!({"type": "string"}),
        Type::Bytes => json!({"type": "string", "format": "byte"}),
        _ => json!({}),
    }
}

fn field_schema(f: &prost_types::FieldDescriptorProto) -> Value {
    let t = f.r#type();
    let base = match t {
        Type::Message | Type::Enum => {
            let n = f.type_name();
            match n {
                ".google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
                ".google.protobuf.Duration" => json!({"type": "string"}),
                _ => json!({"$ref": format!("#/components/schemas/{}", schema_name(n))}),
            }
        }
        _ => scalar(t),
    };
    if f.label() == Label::Repeated {
        json!({"type": "array", "items": base})
    } else {
        base
    }
}

fn add_message(prefix: &str, m: &DescriptorProto, schemas: &mut Map<String, Value>) {
    let name = if prefix.is_empty() {
        m.name().to_string()
    } else {
        format!("{prefix}.{}", m.name())
    };
    let mut props = Map::new();
    for f in &m.field {
        props.insert(f.json_name().to_string(), field_schema(f));
    }
    schemas.insert(name.clone(), json!({"type": "object", "properties": props}));
    for nested in &m.nested_type {
        add_message(&name, nested, schemas);
    }
    for e in &m.enum_type {
        add_enum(&format!("{name}.{}", e.name()), e, schemas);
    }
}

fn add_enum(name: &str, e: &prost_types::EnumDescriptorProto, schemas: &mut Map<String, Value>) {
    let values: Vec<Value> = e.value.iter().map(|v| json!(v.name())).collect();
    schemas.insert(name.to_string(), json!({"type": "string", "enum": values}));
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn ok(schema: &str, code: &str) -> Value {
    let mut r = Map::new();
    r.insert(
        code.to_string(),
        json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
    );
    for (c, d) in [
        (
            "400",
            "Invalid request: one entry per invalid field in `errors`",
        ),
        ("401", "Authentication required"),
        (
            "403",
            "Refused by the policy (the decision is in `decision`) or another tenant",
        ),
        ("404", "Not found"),
        (
            "409",
            "Idempotency key reused with a different body, or invalid state",
        ),
        ("429", "Queue full: retry after the Retry-After header"),
        ("503", "Store unavailable"),
    ] {
        r.insert(
            c.to_string(),
            json!({"description": d, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(r)
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn query(name: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}})
}

/// The whole document.
pub fn document() -> Value {
    let mut schemas = Map::new();
    if let Ok(set) = FileDescriptorSet::decode(passerelle_api::FILE_DESCRIPTOR_SET) {
        for file in set.file.iter().filter(|f| f.package() == "passerelle.v1") {
            for m in &file.message_type {
                add_message("", m, &mut schemas);
            }
            for e in &file.enum_type {
                add_enum(e.name(), e, &mut schemas);
            }
        }
    }
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "description": "RFC 9457 problem details", "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "reason": {"$ref": "#/components/schemas/ErrorReason"},
            "origin": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}},
            "decision": {"$ref": "#/components/schemas/Decision"}}}),
    );
    let idem = json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Passerelle API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "HTTP/JSON mapping of proto/passerelle/v1 (canonical proto3 JSON). gRPC serves the same services on the same listener."},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/transmissions": {
                "post": {"operationId": "Submit", "parameters": [idem.clone()], "requestBody": body("SubmitRequest"), "responses": ok("SubmitResponse", "201")},
                "get": {"operationId": "List", "parameters": [query("tenant"), query("childRef"), query("status"), query("since"), query("until"), query("pageSize"), query("pageToken")], "responses": ok("ListTransmissionsResponse", "200")}
            },
            "/v1/transmissions:explain": {"post": {"operationId": "Explain", "requestBody": body("SubmitRequest"), "responses": ok("ExplainResponse", "200")}},
            "/v1/transmissions/{id}": {"get": {"operationId": "Get", "parameters": [path_param("id")], "responses": ok("Transmission", "200")}},
            "/v1/transmissions/{id}/events": {"get": {"operationId": "Watch", "parameters": [path_param("id"), query("afterSeq")],
                "responses": {"200": {"description": "Server-sent events: `status` events carrying a WatchEvent, then one `final` event", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/WatchEvent"}}}}}}},
            "/v1/transmissions/{id}/cancel": {"post": {"operationId": "Cancel", "parameters": [path_param("id")], "responses": ok("CancelResponse", "200")}},
            "/v1/inbox": {"get": {"operationId": "InboxList", "parameters": [query("status"), query("pageSize"), query("pageToken")], "responses": ok("ListInboxResponse", "200")}},
            "/v1/inbox/{id}": {"get": {"operationId": "InboxGet", "parameters": [path_param("id")], "responses": ok("InboxItem", "200")}},
            "/v1/inbox/{id}/ack": {"post": {"operationId": "InboxAck", "parameters": [path_param("id")], "responses": ok("AckInboxResponse", "200")}},
            "/v1/admin/whoami": {"get": {"operationId": "WhoAmI", "responses": ok("WhoAmIResponse", "200")}},
            "/v1/admin/deliveries": {"get": {"operationId": "ListDeliveries", "parameters": [query("status"), query("channel"), query("destination"), query("pageSize"), query("pageToken")], "responses": ok("ListDeliveriesResponse", "200")}},
            "/v1/admin/deliveries/{id}/retry": {"post": {"operationId": "Retry", "parameters": [path_param("id")], "responses": ok("RetryResponse", "200")}},
            "/v1/admin/deliveries:retry-all": {"post": {"operationId": "RetryAll", "requestBody": body("RetryAllRequest"), "responses": ok("RetryAllResponse", "200")}},
            "/v1/admin/destinations/{destination}/pause": {"post": {"operationId": "Pause", "parameters": [path_param("destination")], "responses": ok("DestinationResponse", "200")}},
            "/v1/admin/destinations/{destination}/resume": {"post": {"operationId": "Resume", "parameters": [path_param("destination")], "responses": ok("DestinationResponse", "200")}},
            "/healthz": {"get": {"operationId": "Healthz", "security": [], "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"operationId": "Readyz", "security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "store not ready"}}}},
            "/metrics": {"get": {"operationId": "Metrics", "security": [], "responses": {"200": {"description": "Prometheus text format"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas
        }
    })
}

/// Pretty-printed, newline-terminated (the checked-in form).
pub fn render() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let fresh = super::render();
        if std::env::var_os("PASSERELLE_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &fresh).expect("write docs/openapi.json");
        }
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == fresh,
            "docs/openapi.json is stale: run PASSERELLE_UPDATE_OPENAPI=1 cargo test -p passerelle openapi"
        );
        let v: serde_json::Value = serde_json::from_str(&fresh).expect("json");
        let schemas = v["components"]["schemas"].as_object().expect("schemas");
        for s in [
            "SubmitRequest",
            "Decision",
            "Transmission",
            "ChildContext",
            "PpeContent",
            "Channel",
        ] {
            assert!(schemas.contains_key(s), "{s}");
        }
    }
}
