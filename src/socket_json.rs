//! The JSON shape of the Socket.IO events, derived from the protobuf schema by
//! reflection, so that the schema stays the one source of truth:
//!
//! - field names are the proto JSON names (`session_id` → `sessionId`);
//! - `google.protobuf.Timestamp` is an ISO-8601 string with milliseconds and `Z`;
//! - 64-bit integers are JSON numbers (the seeds' `serverTimestamp`, `durationMs`);
//! - enums are the lower-case value name without the enum's prefix
//!   (`AGENT_STATUS_ON_CALL` → `"on_call"`), and `*_UNSPECIFIED` is `null`;
//! - an unset message field or unset `optional` scalar is `null`.
//!
//! The same rules produce the JSON Schemas in `gen/jsonschema/` ([`json_schema`]).
//! Fields marked `(switchboard.v1.phone_number)` can be masked to their last four
//! digits ([`mask_phone_numbers`]).

use std::sync::LazyLock;

use prost_reflect::{
    DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, Kind, MapKey,
    MessageDescriptor, ReflectMessage, Value,
};
use serde_json::{Map, Value as Json, json};

use crate::proto::DESCRIPTOR_POOL;
use crate::time::{from_timestamp, to_iso_millis};

const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// The Socket.IO JSON form of a message.
pub fn to_json(message: &impl ReflectMessage) -> Json {
    message_json(&message.transcode_to_dynamic())
}

/// The Socket.IO JSON form of a dynamic message.
pub fn message_json(message: &DynamicMessage) -> Json {
    let descriptor = message.descriptor();
    if descriptor.full_name() == TIMESTAMP {
        return timestamp_json(message);
    }
    let mut object = Map::new();
    for field in descriptor.fields() {
        let value = if field.supports_presence() && !message.has_field(&field) {
            Json::Null
        } else {
            value_json(&message.get_field(&field), &field.kind())
        };
        object.insert(field.json_name().to_owned(), value);
    }
    Json::Object(object)
}

/// Reads a client's JSON payload into the proto message `M` by the rules
/// [`to_json`] writes it with (camelCase or proto field names, enums by
/// their lower-case short name or number, timestamps ISO-8601), read the
/// lenient way dashboards send them: a string field takes a number too
/// (extensions come either way), an integer a numeric string, a missing or
/// `null` field is its default, and fields the message does not have are
/// ignored. A refusal names the field.
pub fn from_json<M: ReflectMessage + Default>(json: &Json) -> Result<M, String> {
    let mut message = M::default().transcode_to_dynamic();
    fill_message(&mut message, json)?;
    message
        .transcode_to::<M>()
        .map_err(|error| format!("the payload does not fit: {error}"))
}

fn fill_message(message: &mut DynamicMessage, json: &Json) -> Result<(), String> {
    let Json::Object(object) = json else {
        return Err("the payload must be a JSON object".into());
    };
    for field in message.descriptor().fields() {
        let Some(value) = object
            .get(field.json_name())
            .or_else(|| object.get(field.name()))
            .filter(|v| !v.is_null())
        else {
            continue;
        };
        let name = field.json_name();
        let parsed = if field.is_map() {
            return Err(format!("{name} cannot be sent as JSON here"));
        } else if field.is_list() {
            let Json::Array(items) = value else {
                return Err(format!("{name} must be a list"));
            };
            Value::List(
                items
                    .iter()
                    .map(|item| value_of(name, &field.kind(), item))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            value_of(name, &field.kind(), value)?
        };
        message.set_field(&field, parsed);
    }
    Ok(())
}

fn value_of(name: &str, kind: &Kind, json: &Json) -> Result<Value, String> {
    let number = || -> Option<serde_json::Number> {
        match json {
            Json::Number(n) => Some(n.clone()),
            Json::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    };
    let integer = |what: &str| format!("{name} must be {what}");
    Ok(match kind {
        Kind::String => match json {
            Json::String(text) => Value::String(text.clone()),
            Json::Number(n) => Value::String(n.to_string()),
            _ => return Err(format!("{name} must be a string")),
        },
        Kind::Bool => Value::Bool(
            json.as_bool()
                .ok_or_else(|| format!("{name} must be true or false"))?,
        ),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(
            number()
                .and_then(|n| n.as_i64())
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| integer("a 32-bit integer"))?,
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(
            number()
                .and_then(|n| n.as_i64())
                .ok_or_else(|| integer("an integer"))?,
        ),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(
            number()
                .and_then(|n| n.as_u64())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| integer("a 32-bit unsigned integer"))?,
        ),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(
            number()
                .and_then(|n| n.as_u64())
                .ok_or_else(|| integer("an unsigned integer"))?,
        ),
        Kind::Double => Value::F64(
            number()
                .and_then(|n| n.as_f64())
                .ok_or_else(|| integer("a number"))?,
        ),
        Kind::Float => Value::F32(
            number()
                .and_then(|n| n.as_f64())
                .ok_or_else(|| integer("a number"))? as f32,
        ),
        Kind::Bytes => return Err(format!("{name} cannot be sent as JSON here")),
        Kind::Enum(descriptor) => {
            let found = match json {
                Json::String(text) => descriptor
                    .values()
                    .find(|v| enum_value_name(descriptor, v.name()) == text.as_str()),
                Json::Number(n) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| descriptor.get_value(n)),
                _ => None,
            };
            let value = found.ok_or_else(|| {
                let names: Vec<String> = descriptor
                    .values()
                    .filter(|v| v.number() != 0)
                    .map(|v| enum_value_name(descriptor, v.name()))
                    .collect();
                format!("{name} must be one of {}", names.join(", "))
            })?;
            Value::EnumNumber(value.number())
        }
        Kind::Message(descriptor) if descriptor.full_name() == TIMESTAMP => {
            let text = json
                .as_str()
                .ok_or_else(|| format!("{name} must be an ISO-8601 time"))?;
            let time = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| format!("{name} must be an ISO-8601 time"))?;
            let stamp = crate::time::to_timestamp(time.with_timezone(&chrono::Utc));
            Value::Message(stamp.transcode_to_dynamic())
        }
        Kind::Message(descriptor) => {
            let mut inner = DynamicMessage::new(descriptor.clone());
            fill_message(&mut inner, json).map_err(|error| format!("{name}: {error}"))?;
            Value::Message(inner)
        }
    })
}

fn timestamp_json(message: &DynamicMessage) -> Json {
    let seconds = message
        .get_field_by_name("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let nanos = message
        .get_field_by_name("nanos")
        .and_then(|v| v.as_i32())
        .unwrap_or(0);
    from_timestamp(&prost_types::Timestamp { seconds, nanos })
        .map_or(Json::Null, |t| Json::String(to_iso_millis(t)))
}

fn value_json(value: &Value, kind: &Kind) -> Json {
    match (value, kind) {
        (Value::Bool(b), _) => Json::Bool(*b),
        (Value::I32(n), _) => json!(n),
        (Value::I64(n), _) => json!(n),
        (Value::U32(n), _) => json!(n),
        (Value::U64(n), _) => json!(n),
        (Value::F32(n), _) => {
            serde_json::Number::from_f64(f64::from(*n)).map_or(Json::Null, Json::Number)
        }
        (Value::F64(n), _) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
        (Value::String(s), _) => Json::String(s.clone()),
        (Value::Bytes(b), _) => Json::Array(b.iter().map(|x| json!(x)).collect()),
        (Value::EnumNumber(n), Kind::Enum(descriptor)) => enum_json(descriptor, *n),
        (Value::EnumNumber(n), _) => json!(n),
        (Value::Message(m), _) => message_json(m),
        (Value::List(items), kind) => {
            Json::Array(items.iter().map(|v| value_json(v, kind)).collect())
        }
        (Value::Map(entries), Kind::Message(entry)) => {
            let value_kind = entry.map_entry_value_field().kind();
            let mut object = Map::new();
            for (key, value) in entries {
                object.insert(map_key_string(key), value_json(value, &value_kind));
            }
            Json::Object(object)
        }
        (Value::Map(_), _) => Json::Null,
    }
}

fn map_key_string(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// The JSON spelling of an enum value: lower case, without the enum's prefix; `null` for zero.
pub fn enum_json(descriptor: &EnumDescriptor, number: i32) -> Json {
    if number == 0 {
        return Json::Null;
    }
    descriptor.get_value(number).map_or(Json::Null, |v| {
        Json::String(enum_value_name(descriptor, v.name()))
    })
}

/// The JSON spelling of value `number` of the contract's enum `full_name`
/// (`switchboard.v1.CallEndReason`); `None` for zero and unknown values.
pub fn enum_text(full_name: &str, number: i32) -> Option<String> {
    let descriptor = DESCRIPTOR_POOL.get_enum_by_name(full_name)?;
    match enum_json(&descriptor, number) {
        Json::String(text) => Some(text),
        _ => None,
    }
}

fn enum_value_name(descriptor: &EnumDescriptor, value_name: &str) -> String {
    let prefix = format!("{}_", to_upper_snake(descriptor.name()));
    value_name
        .strip_prefix(&prefix)
        .unwrap_or(value_name)
        .to_lowercase()
}

fn to_upper_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The JSON Schema (draft 2020-12) of a message's Socket.IO JSON form. Nested
/// messages go to `$defs`, named as in their package (`ActiveCall`), and are
/// referenced from there; a message field that may be unset is `anyOf` the
/// reference and `null`, an element of a list or a map's value is never null.
pub fn json_schema(descriptor: &MessageDescriptor) -> Json {
    let mut defs = Map::new();
    let mut root = message_schema(descriptor, &mut defs);
    if let Json::Object(object) = &mut root {
        object.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        object.insert(
            "$id".into(),
            json!(format!("{}.schema.json", descriptor.full_name())),
        );
        if !defs.is_empty() {
            object.insert("$defs".into(), Json::Object(defs));
        }
    }
    root
}

fn message_schema(descriptor: &MessageDescriptor, defs: &mut Map<String, Json>) -> Json {
    if descriptor.full_name() == TIMESTAMP {
        return json!({"type": ["string", "null"], "format": "date-time"});
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in descriptor.fields() {
        let mut schema = field_schema(&field, defs);
        if let (Json::Object(object), Some(doc)) = (&mut schema, field_comment(&field)) {
            object.insert("description".into(), json!(doc));
        }
        required.push(json!(field.json_name()));
        properties.insert(field.json_name().to_owned(), schema);
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
    });
    if let (Json::Object(object), Some(doc)) = (&mut schema, message_comment(descriptor)) {
        object.insert("description".into(), json!(doc));
    }
    schema
}

fn field_schema(field: &FieldDescriptor, defs: &mut Map<String, Json>) -> Json {
    let nullable = field.supports_presence() && !field.is_list() && !field.is_map();
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({});
        };
        let value = entry.map_entry_value_field();
        return json!({"type": "object", "additionalProperties": kind_schema(&value.kind(), false, defs)});
    }
    let mut item = kind_schema(&field.kind(), nullable, defs);
    if has_flag(field, &TIME_AS_ASKED) {
        item = json!({"anyOf": [item, {"type": "integer"}]});
    }
    if let Some(values) = listed_values(field) {
        let mut values: Vec<Json> = values.into_iter().map(Json::from).collect();
        if nullable {
            values.push(Json::Null);
        }
        item["enum"] = Json::Array(values);
    }
    if field.is_list() {
        json!({"type": "array", "items": item})
    } else {
        item
    }
}

fn kind_schema(kind: &Kind, nullable: bool, defs: &mut Map<String, Json>) -> Json {
    let typed = |name: &str| {
        if nullable {
            json!({"type": [name, "null"]})
        } else {
            json!({"type": name})
        }
    };
    match kind {
        Kind::Bool => typed("boolean"),
        Kind::String => typed("string"),
        Kind::Bytes => json!({"type": "array", "items": {"type": "integer"}}),
        Kind::Float | Kind::Double => typed("number"),
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64 => typed("integer"),
        Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64 => {
            let mut schema = typed("integer");
            schema["minimum"] = json!(0);
            schema
        }
        Kind::Enum(descriptor) => {
            let mut values: Vec<Json> = descriptor
                .values()
                .filter(|v| v.number() != 0)
                .map(|v| json!(enum_value_name(descriptor, v.name())))
                .collect();
            values.push(Json::Null);
            json!({"enum": values})
        }
        Kind::Message(descriptor) if descriptor.full_name() == TIMESTAMP => {
            json!({"type": ["string", "null"], "format": "date-time"})
        }
        Kind::Message(descriptor) => {
            // Named as the proto message is within its package (the name code
            // generators give the model), the package kept only for a
            // message from another one.
            let full_name = descriptor.full_name();
            let name = full_name
                .strip_prefix("switchboard.v1.")
                .unwrap_or(full_name)
                .to_owned();
            if !defs.contains_key(&name) {
                defs.insert(name.clone(), Json::Null);
                let mut schema = message_schema(descriptor, defs);
                schema["title"] = json!(name);
                defs.insert(name.clone(), schema);
            }
            let reference = json!({"$ref": format!("#/$defs/{name}")});
            if nullable {
                json!({"anyOf": [reference, {"type": "null"}]})
            } else {
                reference
            }
        }
    }
}

fn field_comment(field: &FieldDescriptor) -> Option<String> {
    leading_comment(
        field.parent_message().parent_file_descriptor_proto(),
        field.path(),
    )
}

fn message_comment(descriptor: &MessageDescriptor) -> Option<String> {
    leading_comment(descriptor.parent_file_descriptor_proto(), descriptor.path())
}

fn leading_comment(file: &prost_types::FileDescriptorProto, path: &[i32]) -> Option<String> {
    let info = file.source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?.trim();
    (!text.is_empty()).then(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

static PHONE_NUMBER: LazyLock<Option<ExtensionDescriptor>> =
    LazyLock::new(|| DESCRIPTOR_POOL.get_extension_by_name("switchboard.v1.phone_number"));

static VALUES: LazyLock<Option<ExtensionDescriptor>> =
    LazyLock::new(|| DESCRIPTOR_POOL.get_extension_by_name("switchboard.v1.values"));

static TIME_AS_ASKED: LazyLock<Option<ExtensionDescriptor>> =
    LazyLock::new(|| DESCRIPTOR_POOL.get_extension_by_name("switchboard.v1.time_as_asked"));

fn has_flag(field: &FieldDescriptor, flag: &LazyLock<Option<ExtensionDescriptor>>) -> bool {
    flag.as_ref().is_some_and(|ext| {
        let options = field.options();
        options.has_extension(ext) && options.get_extension(ext).as_bool() == Some(true)
    })
}

/// `json` (the Socket.IO form of `message`) answering a client's request
/// `asked`: each timestamp field marked `(switchboard.v1.time_as_asked)`
/// becomes epoch milliseconds when the request's field of the same name is
/// a number.
pub fn times_as_asked(message: &impl ReflectMessage, json: &mut Json, asked: &Json) {
    for field in message.descriptor().fields() {
        let name = field.json_name();
        if has_flag(&field, &TIME_AS_ASKED)
            && asked.get(name).is_some_and(Json::is_number)
            && let Some(millis) = json
                .get(name)
                .and_then(Json::as_str)
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
                .map(|time| time.timestamp_millis())
        {
            json[name] = json!(millis);
        }
    }
}

/// The values a string field carrying `(switchboard.v1.values)` takes.
pub fn listed_values(field: &FieldDescriptor) -> Option<Vec<String>> {
    let ext = VALUES.as_ref()?;
    let options = field.options();
    if !options.has_extension(ext) {
        return None;
    }
    let listed = options.get_extension(ext);
    let text = listed.as_str()?;
    Some(text.split('|').map(str::to_owned).collect())
}

/// Whether a field carries the `(switchboard.v1.phone_number)` option.
pub fn is_phone_number(field: &FieldDescriptor) -> bool {
    has_flag(field, &PHONE_NUMBER)
}

/// `254712345678` → `********5678`: every digit but the last four becomes `*`.
pub fn mask_phone(number: &str) -> String {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    number
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen + 4 <= digits { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

/// Masks every phone-number field of `message`, at any depth.
pub fn mask_phone_numbers(message: &mut DynamicMessage) {
    let descriptor = message.descriptor();
    for field in descriptor.fields() {
        if !message.has_field(&field) && !field.is_list() && !field.is_map() {
            continue;
        }
        if is_phone_number(&field) {
            match message.get_field_mut(&field) {
                Value::String(s) => *s = mask_phone(s),
                Value::List(items) => {
                    for item in items {
                        if let Value::String(s) = item {
                            *s = mask_phone(s);
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        if matches!(field.kind(), Kind::Message(_)) {
            match message.get_field_mut(&field) {
                Value::Message(inner) => mask_phone_numbers(inner),
                Value::List(items) => {
                    for item in items {
                        if let Value::Message(inner) = item {
                            mask_phone_numbers(inner);
                        }
                    }
                }
                Value::Map(entries) => {
                    for value in entries.values_mut() {
                        if let Value::Message(inner) = value {
                            mask_phone_numbers(inner);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// A copy of `message` with every phone number masked.
pub fn masked<M: ReflectMessage + Default>(message: &M) -> M {
    let mut dynamic = message.transcode_to_dynamic();
    mask_phone_numbers(&mut dynamic);
    dynamic.transcode_to().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_is_answered_in_the_type_it_was_asked_in() {
        let ack = pb::HeartbeatAck {
            timestamp: Some(prost_types::Timestamp {
                seconds: 1_705_312_200,
                nanos: 5_000_000,
            }),
            agent_id: "a".into(),
        };
        let mut as_number = to_json(&ack);
        times_as_asked(&ack, &mut as_number, &json!({"timestamp": 1}));
        assert_eq!(as_number["timestamp"], json!(1_705_312_200_005_i64));
        for asked in [
            json!({"timestamp": "2024-01-15T10:30:00Z"}),
            json!({}),
            json!("x"),
        ] {
            let mut as_text = to_json(&ack);
            times_as_asked(&ack, &mut as_text, &asked);
            assert_eq!(as_text["timestamp"], "2024-01-15T09:50:00.005Z");
        }
    }

    use super::*;
    use crate::proto::v1 as pb;
    use crate::time::to_timestamp;
    use chrono::{TimeZone, Utc};

    #[test]
    fn seed_000_call_bridged_has_the_documented_shape() {
        let at = Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 15).unwrap();
        let event = pb::CallBridged {
            session_id: "channel_123_1705312200000".into(),
            channel_id: "PJSIP/1001-00000001".into(),
            bridge_id: "bridge_uuid_456".into(),
            agent_id: "agent_uuid_789".into(),
            extension: "1001".into(),
            customer_number: "254712345678".into(),
            call_index: 1,
            connected_at: Some(to_timestamp(at)),
            start_timer: true,
            timer_start_time: Some(to_timestamp(at)),
            server_timestamp: 1_705_312_215_000,
            controls: Some(pb::CallControls {
                mute: true,
                hold: true,
                transfer: true,
                hangup: true,
                record: true,
                conference: false,
            }),
        };
        assert_eq!(
            to_json(&event),
            json!({
                "sessionId": "channel_123_1705312200000",
                "channelId": "PJSIP/1001-00000001",
                "bridgeId": "bridge_uuid_456",
                "agentId": "agent_uuid_789",
                "extension": "1001",
                "customerNumber": "254712345678",
                "callIndex": 1,
                "connectedAt": "2024-01-15T10:30:15.000Z",
                "startTimer": true,
                "timerStartTime": "2024-01-15T10:30:15.000Z",
                "serverTimestamp": 1705312215000_i64,
                "controls": {"mute": true, "hold": true, "transfer": true, "hangup": true, "record": true, "conference": false}
            })
        );
    }

    #[test]
    fn enums_optionals_and_maps_follow_the_seeds() {
        let call = pb::ActiveCall {
            uniqueid: "1770784970.56".into(),
            state: "Up".into(),
            answered: false,
            ..Default::default()
        };
        let json = to_json(&call);
        assert_eq!(json["answerTime"], Json::Null);
        assert_eq!(json["agent"], Json::Null);
        assert_eq!(json["disposition"], Json::Null);
        let mut state = pb::SystemState::default();
        state.extension_states.insert(
            "1001".into(),
            pb::ExtensionState {
                status: pb::AgentStatus::OnCall as i32,
                ..Default::default()
            },
        );
        assert_eq!(
            to_json(&state)["extensionStates"]["1001"]["status"],
            "on_call"
        );
        let wallboard = pb::WallboardAgent {
            status: pb::WallboardAgentStatus::Talking as i32,
            ..Default::default()
        };
        assert_eq!(to_json(&wallboard)["status"], "talking");
    }

    #[test]
    fn phone_numbers_are_masked_to_the_last_four_digits_at_any_depth() {
        assert_eq!(mask_phone("254712345678"), "********5678");
        assert_eq!(mask_phone("+64 21 436"), "+** *1 436");
        assert_eq!(mask_phone("123"), "123");
        let mut list = pb::ActiveCallList::default();
        list.calls.push(pb::ActiveCall {
            callerid: "+6421436772".into(),
            channel: "PJSIP/3001-00000024".into(),
            ..Default::default()
        });
        let masked = masked(&list);
        assert_eq!(masked.calls[0].callerid, "+******6772");
        assert_eq!(masked.calls[0].channel, "PJSIP/3001-00000024");
    }

    #[test]
    fn schemas_describe_fields_with_their_comments() {
        let descriptor = pb::QueueStats::default().descriptor();
        let schema = json_schema(&descriptor);
        assert_eq!(schema["properties"]["longestWait"]["type"], "integer");
        assert!(
            schema["properties"]["longestWait"]["description"]
                .as_str()
                .unwrap()
                .contains("seconds")
        );
    }

    #[test]
    fn a_clients_json_reads_back_into_its_request_leniently() {
        use crate::proto::v1 as pb;
        let sent = pb::SetCallPriorityRequest {
            session_id: "ari-1".into(),
            priority: "high".into(),
        };
        let read: pb::SetCallPriorityRequest = from_json(&to_json(&sent)).unwrap();
        assert_eq!(read, sent);
        // Numbers for strings, proto names, unknown and null fields.
        let read: pb::SpyRequest = from_json(&json!({
            "agent_extension": 1001,
            "supervisorExtension": "2001",
            "callUniqueId": null,
            "volume": 11
        }))
        .unwrap();
        assert_eq!(read.agent_extension, "1001");
        assert_eq!(read.supervisor_extension, "2001");
        assert_eq!(read.call_unique_id, "");
        let hold: pb::HoldCallRequest =
            from_json(&json!({"sessionId": "ari-1", "on": true})).unwrap();
        assert!(hold.on);
        // Each refusal names its field.
        let refused = from_json::<pb::HoldCallRequest>(&json!({"on": "yes"})).unwrap_err();
        assert!(refused.contains("on"), "{refused}");
        let refused = from_json::<pb::HoldCallRequest>(&json!(["ari-1"])).unwrap_err();
        assert!(refused.contains("object"), "{refused}");
    }

    #[test]
    fn enums_and_times_read_back_as_they_are_written() {
        use crate::proto::v1 as pb;
        let sent = pb::AgentStatusUpdated {
            extension: "1001".into(),
            status: pb::AgentStatus::OnCall as i32,
            previous_status: pb::AgentStatus::Available as i32,
            status_changed_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000,
            }),
            ..Default::default()
        };
        let read: pb::AgentStatusUpdated = from_json(&to_json(&sent)).unwrap();
        assert_eq!(read, sent);
        let refused =
            from_json::<pb::AgentStatusUpdated>(&json!({"status": "napping"})).unwrap_err();
        assert!(refused.contains("on_call"), "{refused}");
    }
}
