//! `switchboard-codegen OUT_DIR`: writes the generated artifacts of `gen/` that
//! come from the Rust side of the contract: the descriptor set, one JSON Schema
//! per Socket.IO payload, and the AsyncAPI document of the Socket.IO gateway.
//! (`make gen` runs it, then `buf generate` for the TypeScript.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value, json};

use switchboard::gateway::catalog::{CATALOG, Direction, Shape, SocketEvent};
use switchboard::proto::{DESCRIPTOR_POOL, FILE_DESCRIPTOR_SET};
use switchboard::socket_json::json_schema;

fn payload_schema(entry: &SocketEvent) -> Result<Value, String> {
    match entry.shape {
        Shape::BareString => {
            return Ok(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": entry.name,
                "type": "string",
                "description": entry.summary,
            }));
        }
        Shape::Nothing => {
            return Ok(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": entry.name,
                "type": "null",
                "description": entry.summary,
            }));
        }
        _ => {}
    }
    let descriptor = DESCRIPTOR_POOL
        .get_message_by_name(entry.message)
        .ok_or_else(|| format!("{} names unknown message {}", entry.name, entry.message))?;
    let mut schema = json_schema(&descriptor);
    match entry.shape {
        Shape::Message | Shape::BareString | Shape::Nothing => {}
        Shape::ArrayOf(field) => {
            let json_name = descriptor
                .get_field_by_name(field)
                .map(|f| f.json_name().to_owned())
                .ok_or_else(|| format!("{}: no field {field}", entry.name))?;
            let items = schema["properties"][&json_name]["items"].clone();
            let defs = schema.get("$defs").cloned();
            let mut array = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "array",
                "items": items,
            });
            if let Some(defs) = defs {
                array["$defs"] = defs;
            }
            schema = array;
        }
        Shape::MessageWithout(fields) => {
            for field in fields {
                if let Some(properties) = schema["properties"].as_object_mut() {
                    properties.remove(*field);
                }
                if let Some(required) = schema["required"].as_array_mut() {
                    required.retain(|r| r != *field);
                }
            }
        }
    }
    schema["title"] = json!(entry.name);
    Ok(schema)
}

/// A payload's schema as an AsyncAPI message carries it: the shared message
/// schemas of its `$defs` moved to `components.schemas` (where every
/// reference of the document can reach them, and where generators take their
/// model names from), its references rewritten to point there, and the
/// stand-alone file's `$schema` and `$id` left out (a `$id` inside the
/// document would change the base its references resolve against).
fn into_components(mut schema: Value, schemas: &mut Map<String, Value>) -> Value {
    if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
        for (name, mut def) in defs {
            point_refs_at_components(&mut def);
            schemas.insert(name, def);
        }
    }
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("$id");
    }
    point_refs_at_components(&mut schema);
    schema
}

fn point_refs_at_components(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/components/schemas/{name}");
                        }
                    }
                    (_, inner) => point_refs_at_components(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(point_refs_at_components),
        _ => {}
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn run(out: &Path) -> Result<(), String> {
    write(&out.join("descriptor/switchboard.binpb"), "")?;
    std::fs::write(
        out.join("descriptor/switchboard.binpb"),
        FILE_DESCRIPTOR_SET,
    )
    .map_err(|e| e.to_string())?;

    let schema_dir = out.join("jsonschema");
    if schema_dir.exists() {
        std::fs::remove_dir_all(&schema_dir).map_err(|e| e.to_string())?;
    }
    let mut messages = Map::new();
    let mut operations = Map::new();
    let mut channel_messages = Map::new();
    let mut schemas = Map::new();
    for entry in CATALOG {
        let file = entry.schema_file();
        let schema = payload_schema(entry)?;
        write(&schema_dir.join(&file), &pretty(&schema))?;
        let id = file.trim_end_matches(".schema.json").replace('.', "_");
        let payload = into_components(schema, &mut schemas);
        messages.insert(
            id.clone(),
            json!({
                "name": entry.name,
                "title": entry.name,
                "summary": entry.summary,
                "description": format!("Seed {}. {}: {}. Payload: {} (see jsonschema/{file}).",
                    entry.seed,
                    match entry.direction { Direction::ServerToClient => "Rooms", Direction::ClientToServer => "Effect" },
                    entry.rooms,
                    if entry.message.is_empty() { "see the schema".to_owned() } else { format!("JSON form of `{}`", entry.message) }),
                "contentType": "application/json",
                "payload": payload,
                "x-rooms": entry.rooms,
                "x-proto-message": (!entry.message.is_empty()).then_some(entry.message),
            }),
        );
        channel_messages.insert(
            id.clone(),
            json!({"$ref": format!("#/components/messages/{id}")}),
        );
        operations.insert(
            id.clone(),
            json!({
                "action": match entry.direction { Direction::ServerToClient => "send", Direction::ClientToServer => "receive" },
                "channel": {"$ref": "#/channels/default"},
                "summary": entry.summary,
                "messages": [{"$ref": format!("#/channels/default/messages/{id}")}],
            }),
        );
    }
    let asyncapi = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "switchboard Socket.IO gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The documented Socket.IO events of the call-center seeds, re-emitted by switchboard from its protobuf contract. Generated by `make gen` from src/gateway/catalog.rs and proto/; do not edit. Authenticate with `auth: { token }` in the handshake. Timestamps are ISO-8601 strings with milliseconds and Z; enums are lower-case names; unset values are null.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:3001",
                "protocol": "ws",
                "pathname": "/socket.io/",
                "description": "Socket.IO v4 (Engine.IO 4), default namespace; long-polling and WebSocket.",
            }
        },
        "channels": {
            "default": {
                "address": "/",
                "title": "default namespace",
                "description": "Rooms: staff (every socket but client-role ones), admin, client:{clientId}, agents, {conversationId}.",
                "messages": channel_messages,
            }
        },
        "operations": operations,
        "components": { "schemas": schemas, "messages": messages },
    });
    write(
        &out.join("asyncapi/socketio.asyncapi.json"),
        &pretty(&asyncapi),
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("gen"), PathBuf::from);
    match run(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .without_time()
                .with_target(false)
                .init();
            tracing::error!(out = %out.display(), "cannot generate: {error}");
            ExitCode::FAILURE
        }
    }
}
