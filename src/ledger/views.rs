//! Projections of the ledger's domain records onto the contract's messages:
//! the one place where domain types become wire types.

use super::model::{
    Availability, CallRecord, DialOutcome, Direction, EndReason, Source, SourceLink, SpyMode,
    SpySession, Transfer, TransferKind,
};
use super::{AgentRecord, Ledger, QueueRecord};
use crate::proto::v1 as pb;
use crate::time::{Instant, to_timestamp, whole_seconds_between};

/// The contract's direction.
pub fn direction(direction: Direction) -> pb::CallDirection {
    match direction {
        Direction::Unknown => pb::CallDirection::Unspecified,
        Direction::Inbound => pb::CallDirection::Inbound,
        Direction::Outbound => pb::CallDirection::Outbound,
        Direction::Internal => pb::CallDirection::Internal,
    }
}

/// The contract's end reason.
pub fn end_reason(reason: EndReason) -> pb::CallEndReason {
    match reason {
        EndReason::Completed => pb::CallEndReason::Completed,
        EndReason::Abandoned => pb::CallEndReason::Abandoned,
        EndReason::NoAnswer => pb::CallEndReason::NoAnswer,
        EndReason::Busy => pb::CallEndReason::Busy,
        EndReason::Rejected => pb::CallEndReason::Rejected,
        EndReason::Failed => pb::CallEndReason::Failed,
        EndReason::Transferred => pb::CallEndReason::Transferred,
        EndReason::Lost => pb::CallEndReason::Lost,
    }
}

/// CDR-style disposition of seed 002 for a call that ended this way.
pub fn disposition(reason: pb::CallEndReason, answered: bool) -> &'static str {
    match reason {
        _ if answered => "ANSWERED",
        pb::CallEndReason::Busy => "BUSY",
        pb::CallEndReason::Failed => "FAILED",
        _ => "NO ANSWER",
    }
}

/// The contract's agent status.
pub fn agent_status(availability: Availability) -> pb::AgentStatus {
    match availability {
        Availability::Available => pb::AgentStatus::Available,
        Availability::Ringing => pb::AgentStatus::Ringing,
        Availability::OnCall => pb::AgentStatus::OnCall,
        Availability::MultiCall => pb::AgentStatus::MultiCall,
        Availability::Offline => pb::AgentStatus::Offline,
    }
}

/// The wallboard (seed 002) vocabulary of an agent status.
pub fn wallboard_status(availability: Availability) -> pb::WallboardAgentStatus {
    match availability {
        Availability::Available => pb::WallboardAgentStatus::Available,
        Availability::Ringing => pb::WallboardAgentStatus::Ringing,
        Availability::OnCall | Availability::MultiCall => pb::WallboardAgentStatus::Talking,
        Availability::Offline => pb::WallboardAgentStatus::Offline,
    }
}

/// The contract's source kind.
pub fn source_kind(source: Source) -> pb::SourceKind {
    match source {
        Source::Ami => pb::SourceKind::Ami,
        Source::Ari => pb::SourceKind::Ari,
        Source::Twilio => pb::SourceKind::Twilio,
        Source::VoiceAi => pb::SourceKind::VoiceAi,
    }
}

/// The contract's source state.
pub fn source_state(link: SourceLink) -> pb::SourceState {
    match link {
        SourceLink::Connected => pb::SourceState::Connected,
        SourceLink::Disconnected => pb::SourceState::Disconnected,
        SourceLink::Error => pb::SourceState::Error,
    }
}

/// The source-neutral call record of the contract, with the hold time as of `now`.
pub fn call(record: &CallRecord, now: Instant) -> pb::Call {
    pb::Call {
        call_id: record.call_id.clone(),
        ids: Some(pb::CallIdentifiers {
            ami_uniqueid: record.ids.ami_uniqueid.clone(),
            ami_linkedid: record.ids.ami_linkedid.clone(),
            channel: record.ids.channel.clone(),
            ari_channel_id: record.ids.ari_channel_id.clone(),
            ari_bridge_id: record.ids.ari_bridge_id.clone(),
            twilio_call_sid: record.ids.twilio_call_sid.clone(),
            voice_ai_call_id: record.ids.voice_ai_call_id.clone(),
            webrtc_call_id: record.ids.webrtc_call_id.clone(),
        }),
        direction: direction(record.direction) as i32,
        state: if record.answered_at.is_some() {
            pb::CallState::Connected
        } else if record.queue.is_some() && record.agent_extension.is_none() {
            pb::CallState::Queued
        } else {
            pb::CallState::Ringing
        } as i32,
        customer_number: record.customer_number.clone(),
        caller_name: record.caller_name.clone(),
        destination: record.destination.clone(),
        context: record.context.clone(),
        agent_extension: record.agent_extension.clone().unwrap_or_default(),
        agent_id: String::new(),
        queue: record.queue.clone().unwrap_or_default(),
        tenant: record.tenant.clone(),
        started_at: Some(to_timestamp(record.started_at)),
        answered_at: record.answered_at.map(to_timestamp),
        ended_at: None,
        end_reason: pb::CallEndReason::Unspecified as i32,
        call_index: 0,
        transfers: record.transfers.iter().map(transfer).collect(),
        hold_seconds: u32::try_from(record.hold_ms(now) / 1000).unwrap_or(u32::MAX),
        talk_seconds: 0,
        answered_by: record.answered_by.clone(),
        merged_call_ids: record.merged_call_ids.clone(),
    }
}

/// The contract's transfer kind.
pub fn transfer_kind(kind: TransferKind) -> pb::TransferKind {
    match kind {
        TransferKind::Blind => pb::TransferKind::Blind,
        TransferKind::Attended => pb::TransferKind::Attended,
        TransferKind::Blonde => pb::TransferKind::Blonde,
    }
}

/// One transfer of the chain.
pub fn transfer(transfer: &Transfer) -> pb::CallTransfer {
    pb::CallTransfer {
        kind: transfer_kind(transfer.kind) as i32,
        transferer: transfer.transferer.clone(),
        target: transfer.target.clone(),
        merged_call_id: transfer.merged_call_id.clone().unwrap_or_default(),
        at: Some(to_timestamp(transfer.at)),
    }
}

/// The contract's dial outcome.
pub fn dial_outcome(outcome: DialOutcome) -> pb::DialOutcome {
    match outcome {
        DialOutcome::Answer => pb::DialOutcome::Answer,
        DialOutcome::Busy => pb::DialOutcome::Busy,
        DialOutcome::NoAnswer => pb::DialOutcome::NoAnswer,
        DialOutcome::Cancel => pb::DialOutcome::Cancel,
        DialOutcome::Congestion => pb::DialOutcome::Congestion,
        DialOutcome::Unavailable => pb::DialOutcome::Unavailable,
    }
}

/// A `call_updated` for a live call, with the hold time as of `now`.
pub fn call_updated(record: &CallRecord, change: pb::CallChange, now: Instant) -> pb::CallUpdated {
    let mut call = call(record, now);
    if change == pb::CallChange::Held {
        call.state = pb::CallState::OnHold as i32;
    }
    pb::CallUpdated {
        call: Some(call),
        change: change as i32,
        ..Default::default()
    }
}

/// The `call_updated` that closes a call: end time, reason, hold and talk time.
pub fn call_ended(record: &CallRecord, reason: EndReason, now: Instant) -> pb::CallUpdated {
    let mut update = call_updated(record, pb::CallChange::Ended, now);
    let hold_ms = record.hold_ms(now);
    if let Some(call) = update.call.as_mut() {
        call.state = pb::CallState::Ended as i32;
        call.ended_at = Some(to_timestamp(now));
        call.end_reason = end_reason(reason) as i32;
        call.talk_seconds = record.answered_at.map_or(0, |answered| {
            let talk_ms = crate::time::millis_between(answered, now).saturating_sub(hold_ms);
            u32::try_from(talk_ms / 1000).unwrap_or(u32::MAX)
        });
    }
    update
}

/// The Active Call object of seed 002; `ended` is set for `call:ended`.
pub fn active_call(record: &CallRecord, now: Instant, ended: Option<EndReason>) -> pb::ActiveCall {
    let duration_from = record.answered_at.unwrap_or(record.started_at);
    pb::ActiveCall {
        uniqueid: record.ids.ami_uniqueid.clone(),
        channel: record.ids.channel.clone(),
        callerid: record.customer_number.clone(),
        destination: record.destination.clone(),
        context: record.context.clone(),
        state: if ended.is_some() {
            "Down".to_owned()
        } else {
            record.channel_state.clone()
        },
        start_time: Some(to_timestamp(record.started_at)),
        answer_time: record.answered_at.map(to_timestamp),
        answered: record.answered_at.is_some(),
        duration: whole_seconds_between(duration_from, now),
        agent: record.agent_extension.clone(),
        disposition: ended
            .map(|reason| disposition(end_reason(reason), record.answered_at.is_some()).to_owned()),
    }
}

/// The agent record of the contract.
pub fn agent(record: &AgentRecord) -> pb::Agent {
    pb::Agent {
        agent_id: record.agent_id.clone(),
        extension: record.extension.clone(),
        name: record.name.clone(),
        status: agent_status(record.availability()) as i32,
        capacity: Some(capacity(record)),
        calls_today: record.calls_today,
        current_call_ids: record.call_ids.clone(),
        queues: record.queues.clone(),
        login_time: record.login_time.map(to_timestamp),
        status_changed_at: Some(to_timestamp(record.status_changed_at)),
        last_update: Some(to_timestamp(record.last_update)),
        tenant: record.tenant.clone(),
    }
}

/// An agent's capacity.
pub fn capacity(record: &AgentRecord) -> pb::AgentCapacity {
    pb::AgentCapacity {
        current: record.call_ids.len() as u32,
        max: record.max_calls,
        can_take_call: record.can_take_call(),
    }
}

/// The Agent Status object of seed 002.
pub fn wallboard_agent(record: &AgentRecord) -> pb::WallboardAgent {
    pb::WallboardAgent {
        extension: record.extension.clone(),
        status: wallboard_status(record.availability()) as i32,
        calls_today: record.calls_today,
        current_call: record.call_ids.first().cloned(),
        login_time: record.login_time.map(to_timestamp),
        last_update: Some(to_timestamp(record.last_update)),
        queue: record.queues.first().cloned(),
    }
}

/// `agent_status_updated` for an agent whose status went from `previous`.
pub fn agent_status_updated(
    ledger: &Ledger,
    record: &AgentRecord,
    previous: Availability,
) -> pb::AgentStatusUpdated {
    let active_calls = record
        .call_ids
        .iter()
        .filter_map(|id| ledger.calls.get(id))
        .map(|call| pb::AgentCallRef {
            channel_id: call.ids.channel.clone(),
            session_id: call.call_id.clone(),
            start_time: Some(to_timestamp(call.started_at)),
            customer_number: call.customer_number.clone(),
        })
        .collect();
    pb::AgentStatusUpdated {
        agent_id: record.agent_id.clone(),
        extension: record.extension.clone(),
        agent_name: record.name.clone(),
        status: agent_status(record.availability()) as i32,
        previous_status: agent_status(previous) as i32,
        active_calls,
        call_count: record.call_ids.len() as u32,
        status_changed_at: Some(to_timestamp(record.status_changed_at)),
        last_update: Some(to_timestamp(record.last_update)),
        capacity: Some(capacity(record)),
    }
}

/// The queue record of the contract, with its figures as of `now`.
pub fn queue(record: &QueueRecord, now: Instant) -> pb::Queue {
    pb::Queue {
        name: record.name.clone(),
        number: record.number.clone(),
        waiting: record.waiting.len() as u32,
        members: record.members.len() as u32,
        available: record.available(),
        longest_wait: record.longest_wait(now),
        service_level: Some(pb::ServiceLevel {
            threshold_seconds: record.service_level_seconds,
            answered_within_threshold: record.day.answered_within_threshold,
            completed: record.day.answered,
            abandoned: record.day.abandoned,
            percentage: record.service_level(),
            average_hold_seconds: record.average_speed_of_answer().unwrap_or(0.0),
            average_talk_seconds: if record.day.completed == 0 {
                0.0
            } else {
                (record.day.talk_seconds as f64 / f64::from(record.day.completed) * 10.0).round()
                    / 10.0
            },
            abandon_rate: record.abandon_rate(),
        }),
        tenant: record.tenant.clone(),
    }
}

/// The Queue Statistics object of seed 002, plus the live service-level figures.
pub fn queue_stats(record: &QueueRecord, now: Instant) -> pb::QueueStats {
    pb::QueueStats {
        name: record.name.clone(),
        waiting: record.waiting.len() as u32,
        members: record.members.len() as u32,
        available: record.available(),
        longest_wait: record.longest_wait(now),
        service_level: record.service_level(),
        average_speed_of_answer: record.average_speed_of_answer(),
        abandon_rate: record.abandon_rate(),
    }
}

/// `system_state` (seed 000) as of `now`, restricted to `tenant` when given.
pub fn system_state(ledger: &Ledger, now: Instant, tenant: Option<&str>) -> pb::SystemState {
    let in_tenant = |t: &str| tenant.is_none_or(|wanted| wanted == t);
    let agents: Vec<&AgentRecord> = ledger
        .agents
        .values()
        .filter(|a| in_tenant(&a.tenant))
        .collect();
    let extension_states = agents
        .iter()
        .map(|a| {
            (
                a.extension.clone(),
                pb::ExtensionState {
                    agent_id: a.agent_id.clone(),
                    status: agent_status(a.availability()) as i32,
                    agent_name: a.name.clone(),
                    last_update: Some(to_timestamp(a.last_update)),
                },
            )
        })
        .collect();
    let available_agents = agents
        .iter()
        .filter(|a| a.availability() == Availability::Available)
        .map(|a| pb::AvailableAgent {
            agent_id: a.agent_id.clone(),
            extension: a.extension.clone(),
            agent_name: a.name.clone(),
        })
        .collect();
    let agents_with_capacity = agents
        .iter()
        .filter(|a| a.logged_in)
        .map(|a| pb::AgentWithCapacity {
            agent_id: a.agent_id.clone(),
            extension: a.extension.clone(),
            agent_name: a.name.clone(),
            current_calls: a.call_ids.len() as u32,
            max_calls: a.max_calls,
            can_take_call: a.can_take_call(),
        })
        .collect();
    let active_calls = ledger
        .calls
        .values()
        .filter(|c| in_tenant(&c.tenant))
        .map(|c| {
            let agent = c
                .agent_extension
                .as_ref()
                .and_then(|ext| ledger.agents.get(ext));
            let (call_type, status) = match (c.answered_at, &c.agent_extension) {
                (Some(_), _) => ("agent_answered", "connected"),
                (None, Some(_)) => ("agent_ringing", "ringing"),
                (None, None) => ("queued", "queued"),
            };
            pb::ActiveSession {
                session_id: c.call_id.clone(),
                channel_id: c.ids.channel.clone(),
                agent_id: agent.map(|a| a.agent_id.clone()).unwrap_or_default(),
                extension: c.agent_extension.clone().unwrap_or_default(),
                customer_number: c.customer_number.clone(),
                call_type: call_type.to_owned(),
                call_index: agent
                    .and_then(|a| a.call_ids.iter().position(|id| id == &c.call_id))
                    .map_or(0, |i| i as u32 + 1),
                start_time: Some(to_timestamp(c.started_at)),
                status: status.to_owned(),
            }
        })
        .collect();
    pb::SystemState {
        extension_states,
        available_agents,
        agents_with_capacity,
        active_calls,
        timestamp: Some(to_timestamp(now)),
    }
}

/// The contract's spy mode.
pub fn spy_mode(mode: SpyMode) -> pb::SpyMode {
    match mode {
        SpyMode::Monitor => pb::SpyMode::Monitor,
        SpyMode::Whisper => pb::SpyMode::Whisper,
        SpyMode::Barge => pb::SpyMode::Barge,
    }
}

/// A spy session; `ended` is set when it is over.
pub fn spy_session(session: &SpySession, ended: Option<Instant>) -> pb::SpySession {
    pb::SpySession {
        session_id: session.session_id.clone(),
        supervisor: session.supervisor.clone(),
        supervisor_extension: session.supervisor_extension.clone(),
        mode: spy_mode(session.mode) as i32,
        agent_extension: session.agent_extension.clone(),
        call_id: session.call_id.clone(),
        since: Some(to_timestamp(session.since)),
        ended_at: ended.map(to_timestamp),
        active: ended.is_none(),
    }
}
