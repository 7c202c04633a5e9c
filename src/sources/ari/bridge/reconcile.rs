//! After a (re)connect: the agents' endpoints subscribed and read, the
//! sessions squared with what the PBX has now (gone ones ended as lost,
//! unknown ones adopted), and the bridges no call uses destroyed.

use super::*;

impl AgentBridge {
    /// The agents whose phone is `endpoint`, signed in when it is `online`
    /// and out when `offline`; nothing for `unknown`.
    pub(super) fn presence_inputs(&self, endpoint: &str, state: Option<&str>) -> Vec<Input> {
        decide::presence_inputs(self.directory.list(), endpoint, state)
    }

    /// After a (re)connect: subscribes the application to every agent's
    /// endpoint (so that `EndpointStateChange` tells when a phone comes and
    /// goes) and reads their state now. An endpoint the PBX does not know
    /// leaves its agent as configured. Returns the inputs for the rebuild.
    pub async fn sync_endpoints(&mut self) -> Vec<Input> {
        let mut inputs = Vec::new();
        let mut endpoints: Vec<String> =
            self.directory.list().iter().map(|a| a.endpoint()).collect();
        endpoints.sort();
        endpoints.dedup();
        for endpoint in endpoints {
            match self
                .rest
                .subscribe(&self.app, &format!("endpoint:{endpoint}"))
                .await
            {
                Ok(()) => {}
                Err(error) => {
                    tracing::debug!(%error, %endpoint, "ari: not subscribed to an agent endpoint");
                    continue;
                }
            }
            match self.rest.endpoint(&endpoint).await {
                Ok(model) => inputs.extend(self.presence_inputs(&endpoint, model.state.as_deref())),
                Err(error) => {
                    tracing::debug!(%error, %endpoint, "ari: agent endpoint state unknown")
                }
            }
        }
        inputs
    }

    /// After a (re)connect: `channels` and `bridges` are everything the PBX
    /// has now. Sessions whose customer is gone end as lost; customers in the
    /// application that switchboard does not know are adopted, bridged with
    /// their agent when an agent leg shares their bridge; legs and bridges
    /// that are gone are forgotten. Returns the inputs for the log's rebuild,
    /// in order, and the bridges switchboard made that nobody uses any more
    /// (to destroy).
    pub fn reconcile(
        &mut self,
        channels: &[Channel],
        bridges: &[crate::sources::ari::model::Bridge],
        now: Instant,
    ) -> (Vec<Input>, Vec<String>) {
        let present: std::collections::HashSet<&str> =
            channels.iter().map(|c| c.id.as_str()).collect();
        let mut inputs = Vec::new();
        let gone = self
            .sessions
            .extract_if(|customer, _| !present.contains(customer.as_str()));
        for (_, session) in gone {
            inputs.push(Input::CallEnded {
                call_id: session.call_id,
                reason: EndReason::Lost,
            });
        }
        // Calls of this application the ledger holds but no session here
        // knows (this node took the log over from another, or restarted with
        // the log in Redis) whose customer is gone: lost too, no ghost left.
        let known: std::collections::HashSet<&str> =
            self.sessions.values().map(|s| s.call_id.as_str()).collect();
        let ghosts: Vec<String> = self.log.read(|ledger, _| {
            ledger
                .calls
                .values()
                .filter(|call| {
                    !call.ids.ari_channel_id.is_empty()
                        && !present.contains(call.ids.ari_channel_id.as_str())
                        && !known.contains(call.call_id.as_str())
                })
                .map(|call| call.call_id.clone())
                .collect()
        });
        for call_id in ghosts {
            inputs.push(Input::CallEnded {
                call_id,
                reason: EndReason::Lost,
            });
        }
        self.legs.retain(|id, leg| {
            present.contains(id.as_str()) && present.contains(leg.customer.as_str())
        });
        for session in self.sessions.values_mut() {
            if session
                .offer
                .as_ref()
                .and_then(|o| o.leg.as_ref())
                .is_some_and(|leg| !present.contains(leg.as_str()))
                && let Some(offer) = session.offer.as_mut()
            {
                offer.leg = None;
            }
        }
        let prefix = format!("{},", self.app);
        for channel in channels {
            if self.sessions.contains_key(&channel.id) || self.legs.contains_key(&channel.id) {
                continue;
            }
            let in_app = channel.dialplan.app_name == "Stasis"
                && (channel.dialplan.app_data == self.app
                    || channel.dialplan.app_data.starts_with(&prefix));
            if !in_app {
                continue;
            }
            let args: Vec<String> = channel
                .dialplan
                .app_data
                .split(',')
                .skip(1)
                .map(str::to_owned)
                .collect();
            if args.first().map(String::as_str) == Some(AGENT_LEG) {
                continue;
            }
            // Recorded through the log like any input (started when the PBX
            // created the channel), then kept as a session.
            let created =
                crate::sources::ari::model::ari_time(&channel.creationtime).unwrap_or(now);
            let session = self.adopt(&args, channel, created.min(now));
            self.sessions.insert(channel.id.clone(), session);
        }
        // Bridges: forget the ones that are gone; re-join adopted customers
        // with the agent leg that shares their bridge.
        let bridge_ids: std::collections::HashSet<&str> =
            bridges.iter().map(|b| b.id.as_str()).collect();
        for session in self.sessions.values_mut() {
            if session
                .bridge
                .as_deref()
                .is_some_and(|b| !bridge_ids.contains(b))
            {
                session.bridge = None;
            }
        }
        for bridge in bridges {
            for customer in &bridge.channels {
                let Some(session) = self.sessions.get(customer) else {
                    continue;
                };
                if session.agent.is_some() {
                    continue;
                }
                let leg_args = format!("{prefix}{AGENT_LEG},{customer}");
                let Some(leg) = channels
                    .iter()
                    .find(|c| bridge.channels.contains(&c.id) && c.dialplan.app_data == leg_args)
                else {
                    continue;
                };
                let endpoint = leg
                    .name
                    .rsplit_once('-')
                    .map_or(leg.name.as_str(), |(e, _)| e);
                let Some(agent) = self
                    .directory
                    .list()
                    .into_iter()
                    .find(|a| a.endpoint() == endpoint)
                else {
                    continue;
                };
                let call_id = session.call_id.clone();
                self.legs.insert(
                    leg.id.clone(),
                    Leg {
                        customer: customer.clone(),
                        extension: agent.extension.clone(),
                        state: leg.state.clone(),
                    },
                );
                if let Some(session) = self.sessions.get_mut(customer) {
                    session.agent = Some((agent.extension.clone(), leg.id.clone()));
                    session.bridge = Some(bridge.id.clone());
                }
                // Bridged when the PBX made the bridge: the desktop's timer stays right.
                let bridged =
                    crate::sources::ari::model::ari_time(&bridge.creationtime).unwrap_or(now);
                self.apply(
                    Input::CallBridged {
                        call_id,
                        extension: agent.extension,
                        bridge_id: bridge.id.clone(),
                    },
                    bridged.min(now),
                );
            }
        }
        let used: std::collections::HashSet<&str> = self
            .sessions
            .values()
            .filter_map(|s| s.bridge.as_deref())
            .chain(self.spies.values().filter_map(|s| s.bridge.as_deref()))
            .collect();
        let orphans = bridges
            .iter()
            .filter(|b| b.name.starts_with("switchboard-") && !used.contains(b.id.as_str()))
            .map(|b| b.id.clone())
            .collect();
        (inputs, orphans)
    }

    /// Destroys bridges switchboard made that no call uses any more.
    pub async fn destroy_orphans(&self, bridges: Vec<String>) {
        for bridge in bridges {
            match self.rest.destroy_bridge(&bridge).await {
                Ok(()) | Err(AriError::NotFound(_)) => {
                    tracing::info!(%bridge, "ari: destroyed a bridge no call uses");
                }
                Err(error) => {
                    tracing::warn!(%error, %bridge, "ari: could not destroy an unused bridge")
                }
            }
        }
    }
}
