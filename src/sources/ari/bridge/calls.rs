//! The agent bridge's calls as the PBX reports them: a customer arrives
//! in the application (adopted as a session, a call, a queue place), is
//! offered to an agent whose phone rings, is bridged when the agent's leg
//! answers, and ends when either side leaves; each step's REST calls.

use super::*;

impl AgentBridge {
    /// A customer's channel entered the application.
    pub(super) async fn customer_arrived(
        &mut self,
        args: &[String],
        channel: Channel,
        now: Instant,
    ) {
        if self.sessions.contains_key(&channel.id) {
            return;
        }
        let session = self.adopt(args, &channel, now);
        let customer = session.customer.clone();
        let target = session.target.clone();
        self.sessions.insert(customer.clone(), session);
        if channel.state != "Up"
            && let Err(error) = self.rest.ring(&customer).await
        {
            tracing::debug!(%error, channel = %customer, "ari: could not indicate ringing");
        }
        match target {
            Target::Agent => {
                let extension = agent_argument(args, &channel);
                if self.directory.get(&extension).is_none() {
                    tracing::warn!(%extension, channel = %customer, "ari: call for an unknown agent; hanging up");
                    self.end_from_here(&customer, finish::REJECTED, "unallocated")
                        .await;
                    return;
                }
                self.offer(&customer, &extension, now).await;
            }
            Target::Queue(_) => {}
        }
    }

    /// Records a customer channel found in the application as a session
    /// (and a call, and a queue place when it waits in one).
    pub(super) fn adopt(&mut self, args: &[String], channel: &Channel, now: Instant) -> Session {
        let target = decide::target_of(args, channel, |extension| {
            self.directory.get(extension).is_some()
        });
        let call_id = format!("{CALL_ID_PREFIX}{}", channel.id);
        let queue = match &target {
            Target::Queue(number) => Some(number.clone()),
            Target::Agent => None,
        };
        self.apply(
            Input::CallStarted {
                call_id: call_id.clone(),
                ids: CallIds {
                    channel: channel.name.clone(),
                    ari_channel_id: channel.id.clone(),
                    ..CallIds::default()
                },
                direction: Direction::Inbound,
                customer_number: channel.caller.number.clone(),
                caller_name: channel.caller.name.clone(),
                destination: channel.dialplan.exten.clone(),
                context: channel.dialplan.context.clone(),
                channel_state: channel.state.clone(),
                queue: queue.clone(),
                tenant: channel.tenantid.clone().unwrap_or_default(),
            },
            now,
        );
        if let Some(queue) = queue {
            self.join_queue(&call_id, &queue, channel, now);
        }
        Session {
            call_id,
            customer: channel.id.clone(),
            customer_name: channel.name.clone(),
            customer_number: channel.caller.number.clone(),
            customer_state: channel.state.clone(),
            target,
            offer: None,
            agent: None,
            bridge: None,
            hangup_cause: None,
            ended_by: None,
        }
    }

    pub(super) fn join_queue(&self, call_id: &str, queue: &str, channel: &Channel, now: Instant) {
        self.apply(
            Input::QueueCallerJoined {
                queue: queue.to_owned(),
                call_id: call_id.to_owned(),
                channel: channel.name.clone(),
                caller_number: channel.caller.number.clone(),
                caller_name: channel.caller.name.clone(),
            },
            now,
        );
    }

    /// Offers the customer's call to the agent at `extension`: rings their
    /// endpoint when they can take one more call, and says so either way.
    pub(super) async fn offer(&mut self, customer: &str, extension: &str, now: Instant) {
        let Some(entry) = self.directory.get(extension) else {
            return;
        };
        let Some(session) = self.sessions.get(customer) else {
            return;
        };
        let call_id = session.call_id.clone();
        let number = session.customer_number.clone();
        let can_take = self.log.read(|ledger, _| {
            ledger
                .agents
                .get(extension)
                .is_some_and(|a| a.can_take_call())
        });
        let leg = if can_take {
            self.ring_agent(customer, &entry.endpoint(), extension, &number, &[])
                .await
        } else {
            None
        };
        if let Some(session) = self.sessions.get_mut(customer) {
            session.offer = Some(Offer {
                extension: extension.to_owned(),
                leg,
            });
        }
        self.apply(
            Input::CallOffered {
                call_id,
                extension: extension.to_owned(),
            },
            now,
        );
    }

    /// Originates the agent's endpoint for `customer`; the leg's id, or
    /// `None` when the PBX refused (logged).
    pub(super) async fn ring_agent(
        &mut self,
        customer: &str,
        endpoint: &str,
        extension: &str,
        caller_number: &str,
        variables: &[(&str, &str)],
    ) -> Option<String> {
        let args = format!("{AGENT_LEG},{customer}");
        match self
            .rest
            .originate(
                endpoint,
                &self.app,
                &args,
                caller_number,
                RING_SECONDS,
                variables,
            )
            .await
        {
            Ok(leg) => {
                self.legs.insert(
                    leg.id.clone(),
                    Leg {
                        customer: customer.to_owned(),
                        extension: extension.to_owned(),
                        state: leg.state.clone(),
                    },
                );
                Some(leg.id)
            }
            Err(error) => {
                tracing::warn!(%error, %endpoint, "ari: could not ring the agent's phone");
                None
            }
        }
    }

    /// An agent's leg entered the application: the phone answered. Bridge it with its customer.
    pub(super) async fn agent_answered(&mut self, leg: Channel, now: Instant) {
        let Some(info) = self.legs.get(&leg.id).cloned() else {
            // A leg of a call switchboard no longer knows (a restart): nobody waits for it.
            let _ = self.rest.hang_up(&leg.id, "normal").await;
            return;
        };
        let session = self.sessions.get(&info.customer);
        let Answer::Bridge {
            existing,
            answer_customer,
        } = decide::answer(session, &info, &leg.id)
        else {
            self.drop_leg(&leg.id).await;
            return;
        };
        let customer = info.customer.clone();
        let call_id = session.map(|s| s.call_id.clone()).unwrap_or_default();
        let bridge = match existing {
            Some(bridge) => bridge,
            None => match self
                .rest
                .create_bridge(&format!("switchboard-{call_id}"))
                .await
            {
                Ok(bridge) => bridge.id,
                Err(error) => {
                    tracing::warn!(%error, %call_id, "ari: could not create the bridge");
                    self.drop_leg(&leg.id).await;
                    self.withdraw(&customer, None, now).await;
                    return;
                }
            },
        };
        if let Some(session) = self.sessions.get_mut(&customer) {
            session.bridge = Some(bridge.clone());
            session.offer = None;
            session.agent = Some((info.extension.clone(), leg.id.clone()));
        }
        if answer_customer && let Err(error) = self.rest.answer(&customer).await {
            tracing::debug!(%error, %call_id, "ari: answering the customer");
        }
        for channel in [&customer, &leg.id] {
            if let Err(error) = self.rest.add_channel(&bridge, channel).await {
                tracing::warn!(%error, %call_id, %channel, "ari: could not add a channel to the bridge");
                if channel == &customer {
                    // The customer is gone: their StasisEnd ends the call.
                    return;
                }
                self.agent_leg_ended(&leg.id, now).await;
                return;
            }
        }
    }

    /// A ringing leg ended unanswered: declined on the phone (`declined`) or not answered.
    pub(super) async fn offer_failed(&mut self, leg: &str, declined: bool, now: Instant) {
        let Some(info) = self.legs.remove(leg) else {
            return;
        };
        let current = self.sessions.get(&info.customer).is_some_and(|s| {
            s.offer
                .as_ref()
                .is_some_and(|o| o.leg.as_deref() == Some(leg))
        });
        if !current {
            return;
        }
        let reason = declined.then(|| "declined on the phone".to_owned());
        self.withdraw(&info.customer, reason, now).await;
    }

    /// Withdraws the session's offer (rejected with `reason`, or lapsed), then
    /// sends a direct call away busy and puts a queue call back in its queue.
    pub(super) async fn withdraw(&mut self, customer: &str, reason: Option<String>, now: Instant) {
        let Some(session) = self.sessions.get_mut(customer) else {
            return;
        };
        let Some(offer) = session.offer.take() else {
            return;
        };
        let Withdrawal { leg, input, then } = decide::withdrawal(session, offer, reason);
        let call_id = session.call_id.clone();
        if let Some(leg) = &leg {
            self.drop_leg(leg).await;
        }
        self.apply(input, now);
        match then {
            AfterWithdrawal::EndCustomer { by, reason } => {
                self.end_from_here(customer, by, reason).await;
            }
            AfterWithdrawal::Requeue(queue) => {
                let channel = self.customer_channel(customer);
                self.join_queue(&call_id, &queue, &channel, now);
            }
        }
    }

    /// The customer as a channel model, for inputs that want its name and number.
    pub(super) fn customer_channel(&self, customer: &str) -> Channel {
        let mut channel = Channel {
            id: customer.to_owned(),
            ..Channel::default()
        };
        if let Some(session) = self.sessions.get(customer) {
            channel.name.clone_from(&session.customer_name);
            channel.caller.number.clone_from(&session.customer_number);
        }
        channel
    }

    /// Forgets a leg and hangs it up.
    pub(super) async fn drop_leg(&mut self, leg: &str) {
        self.legs.remove(leg);
        match self.rest.hang_up(leg, "normal").await {
            Ok(()) | Err(AriError::NotFound(_)) => {}
            Err(error) => tracing::warn!(%error, %leg, "ari: could not hang up an agent leg"),
        }
    }

    /// Hangs the customer up from switchboard's side; their `StasisEnd` ends the session.
    pub(super) async fn end_from_here(&mut self, customer: &str, by: &'static str, reason: &str) {
        if let Some(session) = self.sessions.get_mut(customer) {
            session.ended_by.get_or_insert(by);
        }
        match self.rest.hang_up(customer, reason).await {
            Ok(()) => {}
            Err(AriError::NotFound(_)) => {
                // Already gone: end the session now rather than wait for an event that passed.
                self.customer_left(customer, chrono::Utc::now()).await;
            }
            Err(error) => {
                tracing::warn!(%error, %customer, "ari: could not hang up the customer");
            }
        }
    }

    pub(super) fn state_changed(&mut self, channel: Channel, now: Instant) {
        let (call_id, previous) = if let Some(session) = self.sessions.get_mut(&channel.id) {
            let previous = std::mem::replace(&mut session.customer_state, channel.state.clone());
            (session.call_id.clone(), previous)
        } else if let Some(leg) = self.legs.get_mut(&channel.id) {
            let previous = std::mem::replace(&mut leg.state, channel.state.clone());
            let Some(session) = self.sessions.get(&leg.customer) else {
                return;
            };
            (session.call_id.clone(), previous)
        } else {
            return;
        };
        if previous == channel.state {
            return;
        }
        self.apply(
            Input::ChannelStateChanged {
                call_id,
                channel: channel.name,
                state: channel.state,
                previous_state: previous,
            },
            now,
        );
    }

    /// The customer left the application: the call ends.
    pub(super) async fn customer_left(&mut self, customer: &str, now: Instant) {
        let Some(session) = self.sessions.remove(customer) else {
            return;
        };
        let spies: Vec<String> = self
            .spies
            .iter()
            .filter(|(_, spy)| spy.customer == customer)
            .map(|(id, _)| id.clone())
            .collect();
        for spy in spies {
            self.end_spy(&spy, now).await;
        }
        let Ending {
            inputs,
            end,
            legs,
            bridge,
        } = decide::ending(&session);
        for input in inputs {
            self.apply(input, now);
        }
        for leg in legs {
            self.drop_leg(&leg).await;
        }
        if let Some(bridge) = &bridge {
            match self.rest.destroy_bridge(bridge).await {
                Ok(()) | Err(AriError::NotFound(_)) => {}
                Err(error) => tracing::warn!(%error, %bridge, "ari: could not destroy a bridge"),
            }
        }
        // The call ends once its agent legs and bridge are cleared.
        self.apply(end, now);
    }

    /// An agent's leg left the application. When it was bridged, the agent
    /// ended the call: `call_ended_normally`, and the customer is hung up.
    pub(super) async fn agent_leg_ended(&mut self, leg: &str, now: Instant) {
        let Some(info) = self.legs.remove(leg) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&info.customer) else {
            return;
        };
        if session.agent.as_ref().map(|(_, l)| l.as_str()) != Some(leg) {
            return;
        }
        session.ended_by.get_or_insert(finish::AGENT_HANGUP);
        let call_id = session.call_id.clone();
        self.apply(
            Input::CallHungUp {
                call_id,
                by: finish::AGENT_HANGUP,
            },
            now,
        );
        let customer = info.customer.clone();
        self.end_from_here(&customer, finish::AGENT_HANGUP, "normal")
            .await;
    }
}
