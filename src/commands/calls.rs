//! Call control: commands on a call of the ARI agent bridge (answer,
//! reject, hang up, hold, mute, transfer, assign a queue call, priority),
//! sent to the bridge's task, which owns the calls and does the REST calls.

use crate::auth::Principal;
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::sources::ari::bridge::{BridgeHandle, Command, CommandError, CommandKind};

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

    /// Carries out `kind` on session `session` for `actor`; answers the
    /// call as it stands after (none when it ended).
    pub async fn command(
        &self,
        actor: Principal,
        session: String,
        kind: CommandKind,
    ) -> Result<Option<pb::Call>, Error> {
        let Some(bridge) = &self.bridge else {
            return Err(Error::from(CommandError::NotRunning));
        };
        if session.trim().is_empty() {
            return Err(Error::InvalidArgument("session_id is required".into()));
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
