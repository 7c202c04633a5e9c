//! Call control: commands on a call of the ARI agent bridge (answer,
//! reject, hang up, hold, mute, transfer, assign a queue call, priority),
//! sent to the bridge's task, which owns the calls and does the REST calls.
//!
//! Every surface hands the same [`CallRequest`] (the proto request of the
//! rpc, which is also the Socket.IO event's payload) to
//! [`CallControl::handle`] with the caller's principal: one path in.

use serde_json::Value as Json;

use crate::auth::Principal;
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::socket_json::from_json;
use crate::sources::ari::bridge::{BridgeHandle, Command, CommandError, CommandKind};

/// A call command, as its proto request.
#[derive(Debug, Clone, PartialEq)]
pub enum CallRequest {
    /// `AnswerCall` / `answer_call`.
    Answer(pb::AnswerCallRequest),
    /// `RejectCall` / `reject_call`.
    Reject(pb::RejectCallRequest),
    /// `HangupCall` / `hangup_call`.
    Hangup(pb::HangupCallRequest),
    /// `HoldCall` / `hold_call`.
    Hold(pb::HoldCallRequest),
    /// `MuteCall` / `mute_call`.
    Mute(pb::MuteCallRequest),
    /// `TransferCall` / `transfer_call`.
    Transfer(pb::TransferCallRequest),
    /// `AssignQueueCall` / `assign_queue_call`.
    Assign(pb::AssignQueueCallRequest),
    /// `SetCallPriority` / `set_call_priority`.
    SetPriority(pb::SetCallPriorityRequest),
}

impl CallRequest {
    /// Decodes a client event's JSON payload into the request the catalog
    /// names for it (`message`, the proto's full name).
    pub fn from_json(message: &str, json: &Json) -> Result<CallRequest, Error> {
        let read = |error: String| Error::InvalidArgument(error);
        Ok(match message {
            "switchboard.v1.AnswerCallRequest" => {
                CallRequest::Answer(from_json(json).map_err(read)?)
            }
            "switchboard.v1.RejectCallRequest" => {
                CallRequest::Reject(from_json(json).map_err(read)?)
            }
            "switchboard.v1.HangupCallRequest" => {
                CallRequest::Hangup(from_json(json).map_err(read)?)
            }
            "switchboard.v1.HoldCallRequest" => CallRequest::Hold(from_json(json).map_err(read)?),
            "switchboard.v1.MuteCallRequest" => CallRequest::Mute(from_json(json).map_err(read)?),
            "switchboard.v1.TransferCallRequest" => {
                CallRequest::Transfer(from_json(json).map_err(read)?)
            }
            "switchboard.v1.AssignQueueCallRequest" => {
                CallRequest::Assign(from_json(json).map_err(read)?)
            }
            "switchboard.v1.SetCallPriorityRequest" => {
                CallRequest::SetPriority(from_json(json).map_err(read)?)
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "{other} is not a call command"
                )));
            }
        })
    }

    /// The session it is for, and what to do.
    fn into_command(self) -> (String, CommandKind) {
        match self {
            CallRequest::Answer(r) => (r.session_id, CommandKind::Answer),
            CallRequest::Reject(r) => (r.session_id, CommandKind::Reject { reason: r.reason }),
            CallRequest::Hangup(r) => (r.session_id, CommandKind::Hangup),
            CallRequest::Hold(r) => (r.session_id, CommandKind::Hold(r.on)),
            CallRequest::Mute(r) => (r.session_id, CommandKind::Mute(r.on)),
            CallRequest::Transfer(r) => (r.session_id, CommandKind::Transfer { target: r.target }),
            CallRequest::Assign(r) => (
                r.session_id,
                CommandKind::Assign {
                    extension: r.extension,
                },
            ),
            CallRequest::SetPriority(r) => (
                r.session_id,
                CommandKind::SetPriority {
                    priority: r.priority,
                },
            ),
        }
    }
}

/// The call-control service: the one way a command reaches the agent bridge.
#[derive(Clone)]
pub struct CallControl {
    bridge: Option<BridgeHandle>,
}

impl CallControl {
    /// Commands to `bridge`, when the ARI source is configured (without it
    /// every command is refused as unavailable).
    pub fn new(bridge: Option<BridgeHandle>) -> Self {
        CallControl { bridge }
    }

    /// The bridge, when the ARI source is configured.
    pub fn bridge(&self) -> Option<&BridgeHandle> {
        self.bridge.as_ref()
    }

    /// Carries out `request` for `actor`; answers the call as it stands
    /// after (none when it ended).
    pub async fn handle(
        &self,
        actor: Principal,
        request: CallRequest,
    ) -> Result<Option<pb::Call>, Error> {
        let (session, kind) = request.into_command();
        let Some(bridge) = &self.bridge else {
            return Err(Error::from(CommandError::NotRunning));
        };
        if session.trim().is_empty() {
            return Err(Error::InvalidArgument("sessionId is required".into()));
        }
        bridge
            .send(Command {
                session,
                kind,
                actor,
            })
            .await
            .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_payload_becomes_the_rpcs_request() {
        let request = CallRequest::from_json(
            "switchboard.v1.TransferCallRequest",
            &serde_json::json!({"sessionId": "ari-7", "target": 1002}),
        )
        .unwrap();
        assert_eq!(
            request.clone().into_command(),
            (
                "ari-7".to_owned(),
                CommandKind::Transfer {
                    target: "1002".into()
                }
            )
        );
        let refused = CallRequest::from_json(
            "switchboard.v1.HoldCallRequest",
            &serde_json::json!({"sessionId": "ari-7", "on": "yes"}),
        )
        .unwrap_err();
        assert_eq!(refused.code_name(), "invalid_argument");
        assert!(
            CallRequest::from_json("switchboard.v1.SpyRequest", &serde_json::json!({})).is_err()
        );
    }

    #[tokio::test]
    async fn without_the_bridge_or_a_session_a_command_is_refused() {
        let control = CallControl::new(None);
        let answer = CallRequest::Answer(pb::AnswerCallRequest {
            session_id: "ari-1".into(),
        });
        let refused = control
            .handle(Principal::anonymous_admin(), answer)
            .await
            .unwrap_err();
        assert_eq!(refused.code_name(), "unavailable");
        let (bridge, _inbox) = BridgeHandle::new();
        let control = CallControl::new(Some(bridge));
        let refused = control
            .handle(
                Principal::anonymous_admin(),
                CallRequest::Hangup(pb::HangupCallRequest::default()),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code_name(), "invalid_argument");
    }
}
