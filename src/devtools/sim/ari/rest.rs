//! The simulator's ARI REST routes, as Asterisk answers them: channels
//! (originate, answer, ring, hang up, snoop, hold and mute), endpoints,
//! application subscriptions and bridges, with their events.

use super::*;

/// The handlers' view of the emulator.
pub(super) type SharedState = State<Arc<Shared>>;

pub(super) async fn list_channels(State(shared): SharedState) -> Response {
    let channels: Vec<Channel> = shared.state.lock().channels.values().cloned().collect();
    shared.body(&channels)
}

pub(super) async fn list_bridges(State(shared): SharedState) -> Response {
    let bridges: Vec<Bridge> = shared.state.lock().bridges.values().cloned().collect();
    shared.body(&bridges)
}

pub(super) async fn answer(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let channel = {
        let mut state = shared.state.lock();
        let Some(channel) = state.channels.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "Channel not found");
        };
        if channel.state == "Up" {
            return StatusCode::NO_CONTENT.into_response();
        }
        channel.state = "Up".into();
        channel.clone()
    };
    shared.emit(AriEvent::ChannelStateChange { channel });
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn ring(State(shared): SharedState, Path(id): Path<String>) -> Response {
    if shared.state.lock().channels.contains_key(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "Channel not found")
    }
}

pub(super) async fn hang_up(State(shared): SharedState, Path(id): Path<String>) -> Response {
    if !shared.state.lock().channels.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, "Channel not found");
    }
    remove_channel_everywhere(&shared, &id, 16);
    StatusCode::NO_CONTENT.into_response()
}

/// The model of a registered endpoint, with its channels.
pub(super) fn endpoint_model(shared: &Shared, endpoint: &str) -> Option<Endpoint> {
    let state = shared.state.lock();
    let online = *state.endpoints.get(endpoint)?;
    let (technology, resource) = endpoint.split_once('/')?;
    let prefix = format!("{endpoint}-");
    Some(Endpoint {
        technology: technology.to_owned(),
        resource: resource.to_owned(),
        state: Some(if online { "online" } else { "offline" }.to_owned()),
        channel_ids: state
            .channels
            .values()
            .filter(|c| c.name.starts_with(&prefix))
            .map(|c| c.id.clone())
            .collect(),
    })
}

pub(super) async fn read_endpoint(
    State(shared): SharedState,
    Path((tech, resource)): Path<(String, String)>,
) -> Response {
    match endpoint_model(&shared, &format!("{tech}/{resource}")) {
        Some(endpoint) => axum::Json(endpoint).into_response(),
        None => error(StatusCode::NOT_FOUND, "Endpoint not found"),
    }
}

pub(super) async fn subscribe(
    State(shared): SharedState,
    Path(app): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if app != shared.app {
        return error(StatusCode::NOT_FOUND, "Application not found");
    }
    let Some(source) = query.get("eventSource") else {
        return error(StatusCode::BAD_REQUEST, "field error: eventSource");
    };
    let known = source
        .strip_prefix("endpoint:")
        .is_some_and(|e| shared.state.lock().endpoints.contains_key(e));
    if !known {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Event source does not exist",
        );
    }
    shared.state.lock().subscriptions.insert(source.clone());
    let application = json!({
        "name": shared.app,
        "channel_ids": [],
        "bridge_ids": [],
        "endpoint_ids": shared.state.lock().subscriptions.iter().filter_map(|s| s.strip_prefix("endpoint:")).collect::<Vec<_>>(),
        "device_names": [],
        "events_allowed": [],
        "events_disallowed": [],
    });
    axum::Json(application).into_response()
}

/// What `/hold` and `/mute` change.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    Hold,
    Mute,
}

/// Puts a channel on hold or mutes it (`on`), or undoes it.
pub(super) async fn flag(
    State(shared): SharedState,
    Path(id): Path<String>,
    mark: Mark,
    on: bool,
) -> Response {
    let mut state = shared.state.lock();
    if !state.channels.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, "Channel not found");
    }
    let set = match mark {
        Mark::Hold => &mut state.held,
        Mark::Mute => &mut state.muted,
    };
    if on {
        set.insert(id);
    } else {
        set.remove(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// An originated channel is answered: it goes `Up` and enters the application.
pub(super) fn answer_originated(shared: &Shared, id: &str) {
    let (channel, args) = {
        let mut state = shared.state.lock();
        let Some((_, args)) = state.ringing.remove(id) else {
            return;
        };
        let Some(channel) = state.channels.get_mut(id) else {
            return;
        };
        channel.state = "Up".into();
        // In the application now: its dialplan shows Stasis(app,args).
        channel.dialplan.app_name = "Stasis".into();
        channel.dialplan.app_data = std::iter::once(shared.app.clone())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(",");
        let channel = channel.clone();
        state.in_stasis.insert(id.to_owned());
        (channel, args)
    };
    shared.emit(AriEvent::ChannelStateChange {
        channel: channel.clone(),
    });
    shared.emit(AriEvent::Dial {
        caller: None,
        peer: Box::new(channel.clone()),
        forward: None,
        forwarded: None,
        dialstring: None,
        dialstatus: "ANSWER".into(),
    });
    shared.emit(AriEvent::StasisStart {
        args,
        channel,
        replace_channel: None,
    });
}

/// `POST /channels/{id}/snoop`: a `Snoop/…` channel on the channel, up at
/// once and in the application with `appArgs`. The spy and whisper
/// directions are kept as channel variables (`SNOOP_SPY`, `SNOOP_WHISPER`).
pub(super) async fn snoop(
    State(shared): SharedState,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let valid =
        |v: Option<&String>| v.is_none_or(|v| matches!(v.as_str(), "none" | "in" | "out" | "both"));
    if !valid(query.get("spy")) || !valid(query.get("whisper")) {
        return error(
            StatusCode::BAD_REQUEST,
            "spy and whisper are none, in, out or both",
        );
    }
    if !shared.state.lock().channels.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, "Channel not found");
    }
    let args = query.get("appArgs").map_or("", String::as_str);
    let mut channel = shared.new_channel(
        &format!("Snoop/{id}"),
        "Up",
        CallerId::default(),
        ("default", "s"),
        args,
    );
    let mut variables = serde_json::Map::new();
    for (key, field) in [("SNOOP_SPY", "spy"), ("SNOOP_WHISPER", "whisper")] {
        variables.insert(
            key.into(),
            query
                .get(field)
                .cloned()
                .unwrap_or_else(|| "none".into())
                .into(),
        );
    }
    channel.channelvars = Some(variables);
    {
        let mut state = shared.state.lock();
        state.channels.insert(channel.id.clone(), channel.clone());
        state.in_stasis.insert(channel.id.clone());
    }
    shared.emit(AriEvent::StasisStart {
        args: args
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
        channel: channel.clone(),
        replace_channel: None,
    });
    shared.body(&channel)
}

/// Q.850 cause texts for the causes the emulator uses.
pub(super) fn cause_text(cause: i32) -> &'static str {
    match cause {
        16 => "Normal Clearing",
        19 => "No user responding",
        21 => "Call Rejected",
        38 => "Network out of order",
        _ => "Unknown",
    }
}

/// A channel hangs up: it leaves its bridge, leaves the application, and is destroyed.
pub(super) fn remove_channel_everywhere(shared: &Shared, id: &str, cause: i32) {
    let (channel, left, was_in_stasis) = {
        let mut state = shared.state.lock();
        let Some(channel) = state.channels.remove(id) else {
            return;
        };
        state.ringing.remove(id);
        state.held.remove(id);
        state.muted.remove(id);
        let was_in_stasis = state.in_stasis.remove(id);
        let mut left = Vec::new();
        for bridge in state.bridges.values_mut() {
            if let Some(at) = bridge.channels.iter().position(|c| c == id) {
                bridge.channels.remove(at);
                left.push(bridge.clone());
            }
        }
        (channel, left, was_in_stasis)
    };
    shared.emit(AriEvent::ChannelHangupRequest {
        cause: Some(cause),
        tech_cause: None,
        soft: None,
        channel: channel.clone(),
    });
    for bridge in left {
        shared.emit(AriEvent::ChannelLeftBridge {
            bridge,
            channel: channel.clone(),
        });
    }
    if was_in_stasis {
        shared.emit(AriEvent::StasisEnd {
            channel: channel.clone(),
        });
    }
    shared.emit(AriEvent::ChannelDestroyed {
        cause,
        cause_txt: cause_text(cause).into(),
        tech_cause: None,
        channel,
    });
}

pub(super) async fn create_bridge(
    State(shared): SharedState,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let bridge = {
        let mut state = shared.state.lock();
        state.next_id += 1;
        let bridge = Bridge {
            id: format!("bridge-{:08x}", state.next_id),
            technology: "simple_bridge".into(),
            bridge_type: query
                .get("type")
                .cloned()
                .unwrap_or_else(|| "mixing".into()),
            bridge_class: "stasis".into(),
            creator: "Stasis".into(),
            name: query.get("name").cloned().unwrap_or_default(),
            channels: Vec::new(),
            video_mode: Some("talker".into()),
            creationtime: ari_now(),
            ..Bridge::default()
        };
        state.bridges.insert(bridge.id.clone(), bridge.clone());
        bridge
    };
    shared.emit(AriEvent::BridgeCreated {
        bridge: bridge.clone(),
    });
    shared.body(&bridge)
}

pub(super) async fn read_bridge(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let bridge = shared.state.lock().bridges.get(&id).cloned();
    match bridge {
        Some(bridge) => shared.body(&bridge),
        None => error(StatusCode::NOT_FOUND, "Bridge not found"),
    }
}

pub(super) async fn destroy_bridge(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let Some(bridge) = shared.state.lock().bridges.remove(&id) else {
        return error(StatusCode::NOT_FOUND, "Bridge not found");
    };
    shared.emit(AriEvent::BridgeDestroyed { bridge });
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn add_channel(
    State(shared): SharedState,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    change_membership(&shared, &id, &query, true)
}

pub(super) async fn remove_channel(
    State(shared): SharedState,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    change_membership(&shared, &id, &query, false)
}

pub(super) fn change_membership(
    shared: &Shared,
    bridge_id: &str,
    query: &BTreeMap<String, String>,
    add: bool,
) -> Response {
    let Some(channel_id) = query.get("channel") else {
        return error(StatusCode::BAD_REQUEST, "field error: channel");
    };
    let (bridge, channel) = {
        let mut state = shared.state.lock();
        let Some(channel) = state.channels.get(channel_id).cloned() else {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "Channel not found");
        };
        let Some(bridge) = state.bridges.get_mut(bridge_id) else {
            return error(StatusCode::NOT_FOUND, "Bridge not found");
        };
        let member = bridge.channels.iter().position(|c| c == channel_id);
        match (add, member) {
            (true, None) => bridge.channels.push(channel_id.clone()),
            (false, Some(at)) => {
                bridge.channels.remove(at);
            }
            (true, Some(_)) => return StatusCode::NO_CONTENT.into_response(),
            (false, None) => {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Channel not in bridge");
            }
        }
        (bridge.clone(), channel)
    };
    shared.emit(if add {
        AriEvent::ChannelEnteredBridge {
            bridge,
            channel: Some(channel),
        }
    } else {
        AriEvent::ChannelLeftBridge { bridge, channel }
    });
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /channels`: the endpoint's phone rings (`Ringing`, a `Dial`
/// RINGING); it enters the application only when answered — at once when
/// it answers by itself (the endpoint is set to, or the originate carries
/// the auto-answer header variable), else when the test picks it up.
pub(super) async fn originate(
    State(shared): SharedState,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(endpoint) = query.get("endpoint") else {
        return error(StatusCode::BAD_REQUEST, "field error: endpoint");
    };
    let variables: BTreeMap<String, String> = if body.is_empty() {
        BTreeMap::new()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) => serde_json::from_value(value["variables"].clone()).unwrap_or_default(),
            Err(_) => return error(StatusCode::BAD_REQUEST, "body is not JSON"),
        }
    };
    let caller = CallerId {
        name: String::new(),
        number: query.get("callerId").cloned().unwrap_or_default(),
    };
    let args = query.get("appArgs").map_or("", String::as_str);
    let mut channel = shared.new_channel(endpoint, "Ringing", caller, ("default", "s"), args);
    channel.dialplan.app_name = String::new();
    channel.dialplan.app_data = String::new();
    let auto_answer = {
        let mut state = shared.state.lock();
        if let Some(kept) = state.channels.get_mut(&channel.id) {
            kept.dialplan = channel.dialplan.clone();
        }
        state.ringing.insert(
            channel.id.clone(),
            (
                endpoint.clone(),
                args.split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        );
        state.auto_answer.contains(endpoint)
            || variables
                .get(AUTO_ANSWER_VARIABLE)
                .is_some_and(|v| v == AUTO_ANSWER_VALUE)
    };
    shared.emit(AriEvent::Dial {
        caller: None,
        peer: Box::new(channel.clone()),
        forward: None,
        forwarded: None,
        dialstring: Some(endpoint.trim_start_matches("PJSIP/").to_owned()),
        dialstatus: "RINGING".into(),
    });
    if auto_answer {
        let shared = Arc::clone(&shared);
        let id = channel.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            answer_originated(&shared, &id);
        });
    }
    shared.body(&channel)
}
