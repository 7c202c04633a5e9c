//! The shell of the commands from desktops and supervisors: the checks
//! are [`super::decide`]'s (pure); here they are carried out on the PBX
//! and recorded in the ledger.

use super::*;

impl AgentBridge {
    /// Carries out a command at `now`.
    pub async fn on_command(&mut self, command: Command, now: Instant) -> CommandResult {
        let customer = self.find(&command.session)?;
        let session = &self.sessions[&customer];
        let call = decide::CallView {
            offered_to: session.offer.as_ref().map(|o| o.extension.clone()),
            bridged_with: session.agent.as_ref().map(|(e, _)| e.clone()),
            queue: match &session.target {
                Target::Queue(queue) => Some(queue.clone()),
                Target::Agent => None,
            },
        };
        let authority = decide::authority(&command.actor, &command.session, &call)?;
        decide::check(&command.kind, &authority, &call, &KnownAgents(self))?;
        let decide::CallView {
            offered_to, queue, ..
        } = call;
        match command.kind {
            CommandKind::Answer => {
                let extension = offered_to.unwrap_or_default();
                let entry = self
                    .directory
                    .get(&extension)
                    .ok_or_else(|| CommandError::NoSuchAgent(extension.clone()))?;
                let session = &self.sessions[&customer];
                let number = session.customer_number.clone();
                if let Some(leg) = session.offer.as_ref().and_then(|o| o.leg.clone()) {
                    self.drop_leg(&leg).await;
                }
                let leg = self
                    .ring_agent(
                        &customer,
                        &entry.endpoint(),
                        &extension,
                        &number,
                        &[(AUTO_ANSWER_VARIABLE, AUTO_ANSWER_VALUE)],
                    )
                    .await;
                if let Some(offer) = self
                    .sessions
                    .get_mut(&customer)
                    .and_then(|s| s.offer.as_mut())
                {
                    offer.leg.clone_from(&leg);
                }
                if leg.is_none() {
                    return Err(CommandError::WrongState(format!(
                        "agent {extension}'s phone could not be reached"
                    )));
                }
            }
            CommandKind::Reject { reason } => {
                let reason = if reason.trim().is_empty() {
                    "rejected by the agent".to_owned()
                } else {
                    reason
                };
                self.withdraw(&customer, Some(reason), now).await;
            }
            CommandKind::Hangup => {
                let by = authority.hangup_by();
                let agent_leg = self.sessions[&customer]
                    .agent
                    .as_ref()
                    .map(|(_, leg)| leg.clone());
                match agent_leg {
                    // The agent's side ends it: as if the agent's phone hung up.
                    Some(leg) if by == finish::AGENT_HANGUP => {
                        self.agent_leg_ended(&leg, now).await;
                    }
                    _ => self.end_from_here(&customer, by, "normal").await,
                }
            }
            CommandKind::Hold(on) => {
                self.rest.hold(&customer, on).await?;
                let call_id = self.sessions[&customer].call_id.clone();
                self.apply(Input::CallHeld { call_id, held: on }, now);
            }
            CommandKind::Mute(on) => {
                let Some((_, leg)) = self.sessions[&customer].agent.clone() else {
                    return Err(CommandError::WrongState(
                        "only a connected call can be muted".into(),
                    ));
                };
                self.rest.mute(&leg, on).await?;
            }
            CommandKind::Transfer { target } => {
                self.transfer(&customer, target.trim(), &authority.own_extension, now)
                    .await;
            }
            CommandKind::Assign { extension } => {
                let call_id = self.sessions[&customer].call_id.clone();
                let queue = queue.unwrap_or_default();
                self.apply(Input::QueueCallerLeft { queue, call_id }, now);
                self.offer(&customer, &extension, now).await;
            }
            CommandKind::Spy {
                mode,
                supervisor_extension,
                spy_id,
            } => {
                self.start_spy(&customer, mode, &supervisor_extension, &spy_id)
                    .await?;
            }
            CommandKind::SetPriority { priority } => {
                let call_id = self.sessions[&customer].call_id.clone();
                self.apply(Input::CallPrioritySet { call_id, priority }, now);
            }
        }
        let call_id = format!("{CALL_ID_PREFIX}{customer}");
        Ok(self.log.read(|ledger, _| {
            ledger
                .calls
                .get(&call_id)
                .map(|c| crate::ledger::views::call(c, now))
        }))
    }

    /// Hands the customer's call to `target`: an agent (rung as a new offer)
    /// or a queue number (the caller waits there).
    /// The target was checked ([`decide::check`]).
    pub(super) async fn transfer(
        &mut self,
        customer: &str,
        target: &str,
        transferer: &str,
        now: Instant,
    ) {
        let session = self.sessions[customer].clone();
        let current = session
            .agent
            .as_ref()
            .map(|(e, _)| e.clone())
            .or(session.offer.as_ref().map(|o| o.extension.clone()));
        let to_agent = self.directory.get(target).is_some();
        // Let go of the agent who has it (or whose phone rings).
        if let Some(offer) = &session.offer {
            if let Some(leg) = &offer.leg {
                self.drop_leg(leg).await;
            }
            self.apply(
                Input::CallOfferWithdrawn {
                    call_id: session.call_id.clone(),
                    extension: offer.extension.clone(),
                    rejected: None,
                },
                now,
            );
        }
        if let Some((_, leg)) = &session.agent {
            if let Some(bridge) = &session.bridge {
                let _ = self.rest.remove_channel(bridge, leg).await;
            }
            self.drop_leg(leg).await;
        }
        if let Some(live) = self.sessions.get_mut(customer) {
            live.offer = None;
            live.agent = None;
            if !to_agent {
                live.target = Target::Queue(target.to_owned());
            }
        }
        self.apply(
            Input::CallTransferred {
                call_id: session.call_id.clone(),
                transfer: Transfer {
                    kind: TransferKind::Blind,
                    transferer: if transferer.is_empty() {
                        current.clone().unwrap_or_default()
                    } else {
                        transferer.to_owned()
                    },
                    target: target.to_owned(),
                    merged_call_id: None,
                    at: now,
                },
                customer_number: None,
                agent_extension: None,
                agent_released: true,
                answered_by: None,
            },
            now,
        );
        if to_agent {
            self.offer(customer, target, now).await;
        } else {
            let channel = self.customer_channel(customer);
            self.join_queue(&session.call_id, target, &channel, now);
        }
    }

    /// The customer channel of a session named by call id or channel id.
    pub(super) fn find(&self, session: &str) -> Result<String, CommandError> {
        let channel = session.strip_prefix(CALL_ID_PREFIX).unwrap_or(session);
        if self.sessions.contains_key(channel) {
            Ok(channel.to_owned())
        } else {
            Err(CommandError::NoSuchCall(session.to_owned()))
        }
    }
}

/// The directory and the ledger, as the checks see the agents.
struct KnownAgents<'a>(&'a AgentBridge);

impl decide::Agents for KnownAgents<'_> {
    fn known(&self, extension: &str) -> bool {
        self.0.directory.get(extension).is_some()
    }

    fn has_room(&self, extension: &str) -> bool {
        self.0.log.read(|ledger, _| {
            ledger
                .agents
                .get(extension)
                .is_some_and(|a| (a.call_ids.len() as u32) < a.max_calls)
        })
    }
}
