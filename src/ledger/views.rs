//! Projections of the ledger's domain records onto the contract's messages:
//! the one place where domain types become wire types.

use super::model::{
    Availability, CallRecord, DialOutcome, Direction, EndReason, LeaveReason, Source, SourceLink,
    SpyMode, SpySession, Transfer, TransferKind,
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

/// Where a live call stands: answered (or, answered and
/// handed on by its agent, transferring while the next one's phone rings),
/// waiting in a queue with no phone ringing, else ringing.
fn call_state(record: &CallRecord) -> pb::CallState {
    let answered = record.answered_at.is_some();
    let with_agent = record.agent_extension.is_some();
    let offered = record.offered_to.is_some();
    match (answered, with_agent, offered) {
        (true, false, true) => pb::CallState::Transferring,
        (true, _, _) => pb::CallState::Connected,
        (false, false, false) if record.queue.is_some() => pb::CallState::Queued,
        _ => pb::CallState::Ringing,
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
        state: call_state(record) as i32,
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
        bridged_at: record.bridged_at.map(to_timestamp),
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
        uniqueid: record.uniqueid().to_owned(),
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

/// The Agent Status object of seed 002; its current call is named by the
/// `uniqueid` the call carries on the wallboard.
pub fn wallboard_agent(ledger: &Ledger, record: &AgentRecord) -> pb::WallboardAgent {
    pb::WallboardAgent {
        extension: record.extension.clone(),
        status: wallboard_status(record.availability()) as i32,
        calls_today: record.calls_today,
        current_call: record.call_ids.first().map(|call_id| {
            ledger
                .calls
                .get(call_id)
                .map_or_else(|| call_id.clone(), |call| call.uniqueid().to_owned())
        }),
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
            let agent = bridge_agent(ledger, c);
            let (call_type, status) = match (c.answered_at, agent) {
                (Some(_), _) => ("agent_answered", "connected"),
                (None, Some(_)) => ("agent_ringing", "ringing"),
                (None, None) => ("queued", "queued"),
            };
            pb::ActiveSession {
                session_id: c.call_id.clone(),
                channel_id: c.ids.channel.clone(),
                agent_id: agent.map(|a| a.agent_id.clone()).unwrap_or_default(),
                extension: agent.map(|a| a.extension.clone()).unwrap_or_default(),
                customer_number: c.customer_number.clone(),
                call_type: call_type.to_owned(),
                call_index: agent.map_or(0, |a| a.call_index(&c.call_id)),
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

/// The agent an agent-bridge call belongs to: the one who has it, else the one it rings.
fn bridge_agent<'a>(ledger: &'a Ledger, record: &CallRecord) -> Option<&'a AgentRecord> {
    record
        .agent_extension
        .as_ref()
        .or(record.offered_to.as_ref())
        .and_then(|extension| ledger.agents.get(extension))
}

/// The contract's leave reason.
pub fn leave_reason(reason: LeaveReason) -> pb::LeaveReason {
    match reason {
        LeaveReason::CustomerDisconnected => pb::LeaveReason::CustomerDisconnected,
        LeaveReason::NetworkIssue => pb::LeaveReason::NetworkIssue,
        LeaveReason::Timeout => pb::LeaveReason::Timeout,
    }
}

/// Whether a directory agent other than `extension` can take one more call
/// (a transfer has somewhere to go).
fn another_agent_free(ledger: &Ledger, extension: &str) -> bool {
    ledger
        .agents
        .values()
        .any(|a| a.configured && a.extension != extension && a.can_take_call())
}

/// `call_incoming` for `record` ringing `agent`.
pub fn call_incoming(
    ledger: &Ledger,
    record: &CallRecord,
    agent: &AgentRecord,
    now: Instant,
) -> pb::CallIncoming {
    let others_free = another_agent_free(ledger, &agent.extension);
    pb::CallIncoming {
        session_id: record.call_id.clone(),
        channel_id: record.ids.channel.clone(),
        agent_id: agent.agent_id.clone(),
        extension: agent.extension.clone(),
        agent_name: agent.name.clone(),
        customer_number: record.customer_number.clone(),
        caller_name: caller_name(record),
        call_index: agent.call_index(&record.call_id),
        max_calls: agent.max_calls,
        call_direction: direction(record.direction) as i32,
        priority: record.priority.clone(),
        timestamp: Some(to_timestamp(now)),
        can_answer: agent.logged_in && (agent.call_ids.len() as u32) < agent.max_calls,
        can_reject: true,
        can_transfer: others_free,
    }
}

/// The caller-id name, or `Unknown Caller` as the seed writes it.
fn caller_name(record: &CallRecord) -> String {
    if record.caller_name.is_empty() {
        "Unknown Caller".to_owned()
    } else {
        record.caller_name.clone()
    }
}

/// The controls an agent's desktop may offer on a bridged call: the ones
/// the agent bridge carries out (recording and conferencing it does not).
pub fn bridge_controls(transfer: bool) -> pb::CallControls {
    pb::CallControls {
        mute: true,
        hold: true,
        transfer,
        hangup: true,
        record: false,
        conference: false,
    }
}

/// `call_bridged_successfully` for `record` bridged with `agent` at `now`.
pub fn call_bridged(
    ledger: &Ledger,
    record: &CallRecord,
    agent: &AgentRecord,
    now: Instant,
) -> pb::CallBridged {
    let connected_at = record.bridged_at.unwrap_or(now);
    let others_free = another_agent_free(ledger, &agent.extension);
    pb::CallBridged {
        session_id: record.call_id.clone(),
        channel_id: record.ids.channel.clone(),
        bridge_id: record.ids.ari_bridge_id.clone(),
        agent_id: agent.agent_id.clone(),
        extension: agent.extension.clone(),
        customer_number: record.customer_number.clone(),
        call_index: agent.call_index(&record.call_id),
        connected_at: Some(to_timestamp(connected_at)),
        start_timer: true,
        timer_start_time: Some(to_timestamp(connected_at)),
        server_timestamp: now.timestamp_millis(),
        controls: Some(bridge_controls(others_free)),
    }
}

/// Whole seconds from `from` (when set) to `now`; 0 when unset.
fn seconds_since(from: Option<Instant>, now: Instant) -> u32 {
    from.map_or(0, |from| whole_seconds_between(from, now))
}

/// `customer_left_bridge` for `record` as of `now`: the call's summary, and
/// why the customer left.
pub fn customer_left_bridge(
    ledger: &Ledger,
    record: &CallRecord,
    reason: LeaveReason,
    now: Instant,
) -> pb::CustomerLeftBridge {
    let summary = call_summary(ledger, record, "", now);
    pb::CustomerLeftBridge {
        session_id: summary.session_id,
        channel_id: summary.channel_id,
        agent_id: summary.agent_id,
        extension: summary.extension,
        customer_number: summary.customer_number,
        left_at: summary.ended_at,
        reason: leave_reason(reason) as i32,
        auto_decline: true,
        call_duration: summary.call_duration,
        total_duration: summary.total_duration,
        was_connected: summary.was_connected,
        was_answered: summary.was_answered,
        call_index: summary.call_index,
        bridge_id: summary.bridge_id,
    }
}

/// The summary of an agent-bridge call (`call_ended_normally`, `call_ended`) as of `now`.
pub fn call_summary(
    ledger: &Ledger,
    record: &CallRecord,
    reason: &str,
    now: Instant,
) -> pb::CallSummary {
    let agent = bridge_agent(ledger, record);
    pb::CallSummary {
        session_id: record.call_id.clone(),
        channel_id: record.ids.channel.clone(),
        agent_id: agent.map(|a| a.agent_id.clone()).unwrap_or_default(),
        extension: agent.map(|a| a.extension.clone()).unwrap_or_default(),
        customer_number: record.customer_number.clone(),
        ended_at: Some(to_timestamp(now)),
        left_at: Some(to_timestamp(now)),
        reason: reason.to_owned(),
        call_duration: seconds_since(record.bridged_at, now),
        total_duration: whole_seconds_between(record.started_at, now),
        was_connected: record.bridged_at.is_some(),
        was_answered: record.answered_at.is_some(),
        call_index: agent.map_or(0, |a| a.call_index(&record.call_id)),
        bridge_id: (!record.ids.ari_bridge_id.is_empty()).then(|| record.ids.ari_bridge_id.clone()),
    }
}

/// `incoming_queue_call` for `record` waiting in `queue` as of `now`. The
/// estimated wait is the queue's measured average speed of answer times the
/// caller's position (0 until the queue has answered a call today). The
/// agents listed are those of the agent directory (the ones the bridge can
/// ring) with room for one more call.
pub fn incoming_queue_call(
    ledger: &Ledger,
    record: &CallRecord,
    queue: &QueueRecord,
    now: Instant,
) -> pb::IncomingQueueCall {
    let position = queue
        .waiting
        .iter()
        .position(|w| w.call_id == record.call_id)
        .map_or(0, |i| i as u32 + 1);
    let estimated = queue
        .average_speed_of_answer()
        .map_or(0, |asa| (asa * f64::from(position)).round() as u32);
    pb::IncomingQueueCall {
        session_id: record.call_id.clone(),
        channel_id: record.ids.channel.clone(),
        customer_number: record.customer_number.clone(),
        caller_name: caller_name(record),
        queue_position: position,
        estimated_wait_time: estimated,
        queue_number: if queue.number.is_empty() {
            queue.name.clone()
        } else {
            queue.number.clone()
        },
        available_agents: ledger
            .agents
            .values()
            .filter(|a| a.configured && a.can_take_call())
            .map(|a| pb::AssignableAgent {
                agent_id: a.agent_id.clone(),
                extension: a.extension.clone(),
                agent_name: a.name.clone(),
                current_calls: a.call_ids.len() as u32,
                max_calls: a.max_calls,
            })
            .collect(),
        actions: Some(pb::QueueCallActions {
            assign_to_agent: true,
            set_priority: true,
            transfer: true,
            hangup: true,
        }),
        timestamp: Some(to_timestamp(now)),
    }
}
