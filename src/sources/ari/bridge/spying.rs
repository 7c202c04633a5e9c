//! A supervisor listening in on an agent-bridge call: a snoop on the
//! agent's leg, the supervisor's phone rung, both bridged once it answers,
//! and the spy session ended when either goes.

use super::*;

impl AgentBridge {
    /// A supervisor's phone answered (bridge it with the snoop), or a spy
    /// channel went away (the spy session ends).
    pub(super) async fn on_spy_event(&mut self, spy_id: &str, event: &AriEvent, now: Instant) {
        match event {
            AriEvent::StasisStart { channel, .. } => {
                let Some(spy) = self.spies.get(spy_id).cloned() else {
                    return;
                };
                if channel.id != spy.phone || spy.bridge.is_some() {
                    return;
                }
                let bridge = match self
                    .rest
                    .create_bridge(&format!("switchboard-spy-{spy_id}"))
                    .await
                {
                    Ok(bridge) => bridge.id,
                    Err(error) => {
                        tracing::warn!(%error, spy = %spy_id, "ari: could not create the spy bridge");
                        self.end_spy(spy_id, now).await;
                        return;
                    }
                };
                if let Some(live) = self.spies.get_mut(spy_id) {
                    live.bridge = Some(bridge.clone());
                }
                for channel in [&spy.snoop, &spy.phone] {
                    if let Err(error) = self.rest.add_channel(&bridge, channel).await {
                        tracing::warn!(%error, spy = %spy_id, "ari: could not join the spy bridge");
                        self.end_spy(spy_id, now).await;
                        return;
                    }
                }
            }
            AriEvent::StasisEnd { .. } | AriEvent::ChannelDestroyed { .. } => {
                self.end_spy(spy_id, now).await;
            }
            AriEvent::Dial { dialstatus, .. }
                if matches!(
                    dialstatus.as_str(),
                    "BUSY" | "NOANSWER" | "CHANUNAVAIL" | "CONGESTION" | "CANCEL"
                ) =>
            {
                self.end_spy(spy_id, now).await;
            }
            _ => {}
        }
    }

    /// Ends a spy session: its channels hung up, its bridge destroyed, the ledger told.
    pub(super) async fn end_spy(&mut self, spy_id: &str, now: Instant) {
        let Some(spy) = self.spies.remove(spy_id) else {
            return;
        };
        for channel in [&spy.snoop, &spy.phone] {
            self.spy_channels.remove(channel);
            match self.rest.hang_up(channel, "normal").await {
                Ok(()) | Err(AriError::NotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(%error, %channel, "ari: could not hang up a spy channel")
                }
            }
        }
        if let Some(bridge) = &spy.bridge {
            let _ = self.rest.destroy_bridge(bridge).await;
        }
        self.apply(
            Input::SpyEnded {
                supervisor_extension: spy.supervisor_extension,
            },
            now,
        );
    }

    /// Starts a spy session on the agent's leg of `customer`'s call.
    pub(super) async fn start_spy(
        &mut self,
        customer: &str,
        mode: SpyMode,
        supervisor_extension: &str,
        spy_id: &str,
    ) -> Result<(), CommandError> {
        let Some((_, agent_leg)) = self.sessions[customer].agent.clone() else {
            return Err(CommandError::WrongState(
                "the agent is not connected on this call yet".into(),
            ));
        };
        if supervisor_extension.trim().is_empty() {
            return Err(CommandError::InvalidArgument(
                "no supervisor phone to ring".into(),
            ));
        }
        let (spy, whisper) = match mode {
            SpyMode::Monitor => ("both", "none"),
            SpyMode::Whisper => ("both", "out"),
            SpyMode::Barge => ("both", "both"),
        };
        let snoop = self
            .rest
            .snoop(
                &agent_leg,
                spy,
                whisper,
                &self.app,
                &format!("{SPY_SNOOP},{spy_id}"),
            )
            .await?;
        let phone = match self
            .rest
            .originate(
                &format!("PJSIP/{supervisor_extension}"),
                &self.app,
                &format!("{SPY_SUPERVISOR},{spy_id}"),
                &format!("Supervisor <{supervisor_extension}>"),
                RING_SECONDS,
                &[],
            )
            .await
        {
            Ok(phone) => phone,
            Err(error) => {
                let _ = self.rest.hang_up(&snoop.id, "normal").await;
                return Err(error.into());
            }
        };
        self.spy_channels
            .insert(snoop.id.clone(), spy_id.to_owned());
        self.spy_channels
            .insert(phone.id.clone(), spy_id.to_owned());
        self.spies.insert(
            spy_id.to_owned(),
            Spy {
                customer: customer.to_owned(),
                supervisor_extension: supervisor_extension.to_owned(),
                snoop: snoop.id,
                phone: phone.id,
                bridge: None,
            },
        );
        Ok(())
    }
}
