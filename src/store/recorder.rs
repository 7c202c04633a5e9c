//! The log subscriber that keeps the records: one call record per ended call
//! (from `call_updated` ENDED; a consultation call merged by a transfer is
//! part of its transferee's record, not a record of its own), and agent
//! sessions and pauses (from `agent_session`). At a graceful stop it drains
//! what the log already holds, then stores the calls still up as
//! [`OPEN_END_REASON`] records.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CallRecordRow, OPEN_END_REASON, Store};
use crate::ledger::views::disposition;
use crate::proto::v1::{self as pb, event::Payload};
use crate::socket_json::enum_text;
use crate::time::from_timestamp;

/// Unix milliseconds of a protobuf timestamp.
fn millis(timestamp: Option<&prost_types::Timestamp>) -> Option<i64> {
    timestamp
        .and_then(from_timestamp)
        .map(|t| t.timestamp_millis())
}

/// The stored spelling of a contract enum value: its JSON spelling
/// (`CALL_END_REASON_NO_ANSWER` → `no_answer`), `unknown` when unset.
fn enum_name(full_name: &str, number: i32) -> String {
    enum_text(full_name, number).unwrap_or_else(|| "unknown".to_owned())
}

/// The stored row of `call` as it is at `ended_at_ms`: its end reason when
/// it ended, [`OPEN_END_REASON`] when it is still up.
pub fn call_record_row(call: &pb::Call, ended_at_ms: i64) -> CallRecordRow {
    let ids = call.ids.clone().unwrap_or_default();
    let answered_at_ms = millis(call.answered_at.as_ref());
    let ended = call.end_reason() != pb::CallEndReason::Unspecified;
    let (end_reason, disposition) = if ended {
        (
            enum_name("switchboard.v1.CallEndReason", call.end_reason),
            disposition(call.end_reason(), answered_at_ms.is_some()).to_owned(),
        )
    } else {
        (OPEN_END_REASON.to_owned(), "OPEN".to_owned())
    };
    let transfers: Vec<serde_json::Value> = call
        .transfers
        .iter()
        .map(|t| {
            json!({
                "kind": enum_name("switchboard.v1.TransferKind", t.kind),
                "transferer": t.transferer,
                "target": t.target,
                "mergedCallId": t.merged_call_id,
                "at": millis(t.at.as_ref()),
            })
        })
        .collect();
    let optional = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    CallRecordRow {
        call_id: call.call_id.clone(),
        tenant: call.tenant.clone(),
        direction: enum_name("switchboard.v1.CallDirection", call.direction),
        customer_number: call.customer_number.clone(),
        caller_name: call.caller_name.clone(),
        destination: call.destination.clone(),
        agent_extension: optional(&call.agent_extension),
        queue: optional(&call.queue),
        ami_uniqueid: ids.ami_uniqueid,
        channel: ids.channel,
        started_at_ms: millis(call.started_at.as_ref()).unwrap_or_default(),
        answered_at_ms,
        ended_at_ms: millis(call.ended_at.as_ref()).unwrap_or(ended_at_ms),
        disposition,
        linkedid: ids.ami_linkedid,
        end_reason,
        answered_by: call.answered_by.clone(),
        hold_seconds: i64::from(call.hold_seconds),
        talk_seconds: i64::from(call.talk_seconds),
        transfers: serde_json::Value::Array(transfers).to_string(),
        merged_call_ids: json!(call.merged_call_ids).to_string(),
    }
}

/// The call record an event asks for: a `call_updated` that ended the call,
/// unless the call was merged into another by a transfer.
pub fn call_record_of(event: &pb::Event) -> Option<CallRecordRow> {
    let Some(Payload::CallUpdated(update)) = &event.payload else {
        return None;
    };
    let call = update.call.as_ref()?;
    let merged = call.end_reason() == pb::CallEndReason::Transferred;
    if update.change() != pb::CallChange::Ended || merged {
        return None;
    }
    Some(call_record_row(
        call,
        millis(event.time.as_ref()).unwrap_or_default(),
    ))
}

/// Whether `event` becomes a stored record (a call's end, an agent's session
/// change): what the store subscribes to.
pub fn is_recorded(event: &pb::Event) -> bool {
    match &event.payload {
        Some(Payload::CallUpdated(update)) => update.change() == pb::CallChange::Ended,
        Some(Payload::AgentSession(_)) => true,
        _ => false,
    }
}

/// Keeps the records from the log's durable feed (see
/// [`crate::log::EventLog::subscribe_durable`]) until `shutdown`, then drains what the
/// feed already holds, so that nothing that happened is lost however far a
/// burst or a slow database puts the writer behind.
pub async fn record(
    store: Store,
    mut feed: mpsc::UnboundedReceiver<Arc<pb::Event>>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            received = feed.recv() => received,
            () = shutdown.cancelled() => break,
        };
        match event {
            Some(event) => keep(&store, &event).await,
            None => return,
        }
    }
    while let Ok(event) = feed.try_recv() {
        keep(&store, &event).await;
    }
}

/// Stores the calls still up when switchboard stops as [`OPEN_END_REASON`]
/// records, so that none is lost; returns how many were written.
pub async fn record_open_calls(store: &Store, calls: &[pb::Call], at_ms: i64) -> usize {
    let mut written = 0;
    for call in calls {
        let row = call_record_row(call, at_ms);
        match store.insert_call_record(&row).await {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(error) => tracing::error!(call_id = %row.call_id, %error, "open call not stored"),
        }
    }
    written
}

async fn keep(store: &Store, event: &pb::Event) {
    let outcome = match &event.payload {
        Some(Payload::CallUpdated(_)) => match call_record_of(event) {
            Some(row) => store.insert_call_record(&row).await.map(drop),
            None => Ok(()),
        },
        Some(Payload::AgentSession(change)) => keep_agent_session(store, change).await,
        _ => Ok(()),
    };
    if let Err(error) = outcome {
        tracing::error!(sequence = event.sequence, %error, "record not stored");
    }
}

async fn keep_agent_session(
    store: &Store,
    change: &pb::AgentSessionChange,
) -> crate::error::Result<()> {
    let at_ms = millis(change.at.as_ref()).unwrap_or_default();
    let extension = change.extension.as_str();
    match change.kind() {
        pb::AgentSessionChangeKind::LoggedIn => {
            let id = format!("{extension}@{at_ms}");
            store
                .open_agent_session(&id, extension, &change.agent_id, at_ms)
                .await
        }
        pb::AgentSessionChangeKind::LoggedOut => {
            store.close_agent_pauses(extension, None, at_ms).await?;
            store.close_agent_sessions(extension, at_ms).await.map(drop)
        }
        pb::AgentSessionChangeKind::Paused => store
            .open_agent_pause(extension, &change.queue, &change.reason, at_ms)
            .await
            .map(drop),
        pb::AgentSessionChangeKind::Resumed => store
            .close_agent_pauses(extension, Some(&change.queue), at_ms)
            .await
            .map(drop),
        pb::AgentSessionChangeKind::Unspecified => Ok(()),
    }
}
