//! ARI models, after the Swagger in `../shared/fixtures/ari/api-docs-*`:
//! the objects the agent bridge reads (Channel, Bridge, CallerID,
//! DialplanCEP) and the WebSocket events it acts on. Every property the
//! Swagger marks required is a field; optional ones are `Option`. Events
//! the bridge does not act on decode as [`AriEvent::Other`] (their common
//! fields kept), so a new Asterisk never breaks the stream.
//!
//! An older one does not either: Asterisk 16 to 22 are read alike. A
//! property that a version in that range added (see [`ADDED_SINCE`], from
//! the history of `rest-api/api-docs/` in asterisk/asterisk) is filled with
//! its empty value when it is missing, never a reason to drop an event.

use serde::{Deserialize, Serialize};

/// An Asterisk release, `(major, minor, patch)`: `(16, 0, 0)`.
pub type Release = (u32, u32, u32);

/// The properties the models read that Asterisk 16.0 did not send yet: the
/// model object, the property, and the first release of each series that
/// sends it (16, 18, 20; every 22 does). Such a property defaults to empty
/// when missing. (`caller_rdnis`, `tenantid`, `bridgevars` and `tech_cause`,
/// added later still, are `Option`s.)
pub const ADDED_SINCE: &[(&str, &str, &[Release])] = &[
    ("Event", "timestamp", &[(16, 3, 0), (18, 0, 0), (20, 0, 0)]),
    (
        "Bridge",
        "creationtime",
        &[(16, 3, 0), (18, 0, 0), (20, 0, 0)],
    ),
    (
        "DialplanCEP",
        "app_name",
        &[(16, 4, 0), (18, 0, 0), (20, 0, 0)],
    ),
    (
        "DialplanCEP",
        "app_data",
        &[(16, 4, 0), (18, 0, 0), (20, 0, 0)],
    ),
    (
        "Channel",
        "protocol_id",
        &[(16, 27, 0), (18, 13, 0), (20, 0, 0)],
    ),
];

/// A caller id (`CallerID`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerId {
    /// Name.
    pub name: String,
    /// Number.
    pub number: String,
}

/// Where a channel is in the dialplan (`DialplanCEP`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialplanCep {
    /// Context.
    pub context: String,
    /// Extension.
    pub exten: String,
    /// Priority.
    pub priority: i64,
    /// The application running (`Stasis`); absent before Asterisk 16.4.
    #[serde(default)]
    pub app_name: String,
    /// Its arguments (`callcenter,inbound`); absent before Asterisk 16.4.
    #[serde(default)]
    pub app_data: String,
}

/// A channel (`Channel`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Unique id (the AMI Uniqueid).
    pub id: String,
    /// The protocol's id for it (the SIP Call-ID), often empty (and absent
    /// before Asterisk 16.27 / 18.13 / 20.0).
    #[serde(default)]
    pub protocol_id: String,
    /// Name (`PJSIP/1001-00000002`).
    pub name: String,
    /// State: `Down`, `Ring`, `Ringing`, `Up`, `Busy`, …
    pub state: String,
    /// Its caller id.
    pub caller: CallerId,
    /// The connected line.
    pub connected: CallerId,
    /// Account code.
    pub accountcode: String,
    /// Where it is in the dialplan.
    pub dialplan: DialplanCep,
    /// Created (ARI date, `2026-11-21T14:11:50.056+0000`).
    pub creationtime: String,
    /// Language.
    pub language: String,
    /// Channel variables asked for in `ari.conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channelvars: Option<serde_json::Map<String, serde_json::Value>>,
    /// The redirecting number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_rdnis: Option<String>,
    /// The tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenantid: Option<String>,
}

/// A bridge (`Bridge`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridge {
    /// Unique id.
    pub id: String,
    /// Technology (`simple_bridge`, `softmix`).
    pub technology: String,
    /// Type (`mixing`, `holding`).
    pub bridge_type: String,
    /// Class (`stasis`, `base`).
    pub bridge_class: String,
    /// Who created it.
    pub creator: String,
    /// Name.
    pub name: String,
    /// The ids of the channels in it.
    pub channels: Vec<String>,
    /// Video mode (`talker`, `sfu`, `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_mode: Option<String>,
    /// The video source, in `single` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_source_id: Option<String>,
    /// Created (ARI date); absent before Asterisk 16.3.
    #[serde(default)]
    pub creationtime: String,
    /// Bridge variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridgevars: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A device that makes and takes calls (`Endpoint`), named by technology and resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Technology (`PJSIP`).
    pub technology: String,
    /// The technology's name for it (`1001`).
    pub resource: String,
    /// `unknown`, `offline` or `online`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The channels it has now.
    pub channel_ids: Vec<String>,
}

impl Endpoint {
    /// `TECH/resource`, as an originate names it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.technology, self.resource)
    }
}

/// One message of the `/ari/events` WebSocket: the fields every `Event`
/// has, and the event itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AriMessage {
    /// The Stasis application it is for.
    pub application: String,
    /// When it happened (ARI date); absent before Asterisk 16.3, when the
    /// event is dated on arrival.
    #[serde(default)]
    pub timestamp: String,
    /// The Asterisk that sent it (when several share an application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asterisk_id: Option<String>,
    /// The event, tagged by `type`.
    #[serde(flatten)]
    pub event: AriEvent,
}

/// The events the agent bridge acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AriEvent {
    /// A channel entered the application.
    StasisStart {
        /// The arguments of `Stasis(app,args…)`.
        args: Vec<String>,
        /// The channel.
        channel: Channel,
        /// The channel it replaces (after a masquerade).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace_channel: Option<Box<Channel>>,
    },
    /// A channel left the application.
    StasisEnd {
        /// The channel.
        channel: Channel,
    },
    /// A channel's state changed (`Ring` → `Up`).
    ChannelStateChange {
        /// The channel as it is now.
        channel: Channel,
    },
    /// A channel was destroyed.
    ChannelDestroyed {
        /// Q.850 cause.
        cause: i32,
        /// Its text.
        cause_txt: String,
        /// The technology's own cause.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tech_cause: Option<i32>,
        /// The channel.
        channel: Channel,
    },
    /// Someone asked a channel to hang up.
    ChannelHangupRequest {
        /// Q.850 cause.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<i32>,
        /// The technology's own cause.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tech_cause: Option<i32>,
        /// A soft hangup.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        soft: Option<bool>,
        /// The channel.
        channel: Channel,
    },
    /// A channel entered a bridge.
    ChannelEnteredBridge {
        /// The bridge.
        bridge: Bridge,
        /// The channel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    },
    /// A channel left a bridge.
    ChannelLeftBridge {
        /// The bridge.
        bridge: Bridge,
        /// The channel.
        channel: Channel,
    },
    /// A bridge was created.
    BridgeCreated {
        /// The bridge.
        bridge: Bridge,
    },
    /// A bridge was destroyed.
    BridgeDestroyed {
        /// The bridge.
        bridge: Bridge,
    },
    /// A DTMF digit was received.
    ChannelDtmfReceived {
        /// The digit.
        digit: String,
        /// How long it was held, in milliseconds.
        duration_ms: i64,
        /// The channel.
        channel: Channel,
    },
    /// A dial's progress (an originate to an agent's endpoint ringing, answering…).
    Dial {
        /// The calling channel, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<Box<Channel>>,
        /// The channel dialled.
        peer: Box<Channel>,
        /// Where the call was forwarded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forward: Option<String>,
        /// The channel forwarded to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forwarded: Option<Box<Channel>>,
        /// The dial string.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dialstring: Option<String>,
        /// `RINGING`, `ANSWER`, `BUSY`, `NOANSWER`, `CANCEL`, … (empty while in progress).
        dialstatus: String,
    },
    /// An endpoint went online or offline (for applications subscribed to it).
    EndpointStateChange {
        /// The endpoint as it is now.
        endpoint: Endpoint,
    },
    /// Any other event (`ChannelVarset`, `PlaybackStarted`, …): not acted on.
    #[serde(other)]
    Other,
}

/// Parses an ARI date (`2026-11-21T14:11:50.056+0000`).
pub fn ari_time(text: &str) -> Option<crate::time::Instant> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

impl AriMessage {
    /// When it happened, from its `timestamp`.
    pub fn at(&self) -> Option<crate::time::Instant> {
        ari_time(&self.timestamp)
    }
}

impl AriEvent {
    /// The channel the event is about, when it is about one.
    pub fn channel(&self) -> Option<&Channel> {
        match self {
            AriEvent::StasisStart { channel, .. }
            | AriEvent::StasisEnd { channel }
            | AriEvent::ChannelStateChange { channel }
            | AriEvent::ChannelDestroyed { channel, .. }
            | AriEvent::ChannelHangupRequest { channel, .. }
            | AriEvent::ChannelLeftBridge { channel, .. }
            | AriEvent::ChannelDtmfReceived { channel, .. } => Some(channel),
            AriEvent::ChannelEnteredBridge { channel, .. } => channel.as_ref(),
            AriEvent::Dial { peer, .. } => Some(&**peer),
            AriEvent::BridgeCreated { .. }
            | AriEvent::BridgeDestroyed { .. }
            | AriEvent::EndpointStateChange { .. }
            | AriEvent::Other => None,
        }
    }
}
