//! Commands from any node: an agent's answer, a supervisor's barge or a
//! queue assignment taken by a standby reaches the PBX through the node
//! that ingests, through Redis, and its outcome comes back the same way:
//! the caller gets the acknowledgement or the refusal one node would give.
//!
//! A standby's relays read its own handles' inboxes (the agent bridge's
//! commands, the AMI actions; nobody else reads them while it stands by),
//! queue each on `{name}:commands` with a reply key and a deadline, and
//! wait for the outcome on that key. The leader's command server pops the
//! queue, hands each one still within its deadline to its bridge or its AMI
//! connection, and pushes the outcome to the reply key, which expires
//! unread after a while.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::NodeRole;
use crate::proto::v1 as pb;
use crate::sources::ami::client::{AmiError, AmiHandle, AmiInbox, AmiReply};
use crate::sources::ami::codec::AmiMessage;
use crate::sources::ari::bridge::{BridgeHandle, Command, CommandError, CommandInbox};

/// How long a standby waits for the leader's answer to a command.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What a standby asks of the leader.
#[derive(Serialize, Deserialize)]
enum Asked {
    /// A command for the agent bridge.
    Bridge(Command),
    /// An AMI action: its name and fields.
    Ami {
        name: String,
        fields: Vec<(String, String)>,
    },
}

/// An AMI reply as it travels: the response's and the events' headers.
#[derive(Serialize, Deserialize)]
struct WireReply {
    response: Vec<(String, String)>,
    events: Vec<Vec<(String, String)>>,
}

impl WireReply {
    fn of(reply: &AmiReply) -> WireReply {
        let pairs = |message: &AmiMessage| -> Vec<(String, String)> {
            message
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        WireReply {
            response: pairs(&reply.response),
            events: reply.events.iter().map(pairs).collect(),
        }
    }

    fn reply(&self) -> AmiReply {
        let message = |pairs: &Vec<(String, String)>| {
            AmiMessage::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        };
        AmiReply {
            response: message(&self.response),
            events: self.events.iter().map(message).collect(),
        }
    }
}

/// An answer as it travels.
#[derive(Serialize, Deserialize)]
enum Answered {
    Bridge(Outcome),
    Ami(Result<WireReply, AmiError>),
}

/// A command queued for the leader.
#[derive(Serialize, Deserialize)]
struct Queued {
    asked: Asked,
    /// Where the outcome goes.
    reply_key: String,
    /// Unix milliseconds after which the caller no longer waits.
    deadline_ms: i64,
}

/// An outcome as it travels: the call, protobuf-encoded.
type Outcome = Result<Option<Vec<u8>>, CommandError>;

/// The Redis keys of one deployment's commands.
#[derive(Clone)]
pub struct CommandQueue {
    client: redis::Client,
    queue: String,
    replies: String,
}

impl CommandQueue {
    /// The command queue of deployment `name` in the Redis at `url`.
    pub fn new(url: &str, name: &str) -> anyhow::Result<CommandQueue> {
        Ok(CommandQueue {
            client: redis::Client::open(url).context("REDIS_URL is not a Redis URL")?,
            queue: format!("{name}:commands"),
            replies: format!("{name}:reply"),
        })
    }

    /// A connection whose blocking pops may wait longer than a command's answer.
    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(ANSWER_WITHIN * 2));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Queues `asked` for the leader and waits for its answer; `None` when
    /// none came (Redis or the leader unreachable, or too late).
    async fn ask(&self, asked: Asked) -> Result<Answered, &'static str> {
        let reply_key = format!("{}:{}", self.replies, uuid::Uuid::new_v4().simple());
        let deadline =
            chrono::Utc::now() + chrono::Duration::from_std(ANSWER_WITHIN).unwrap_or_default();
        let queued = Queued {
            asked,
            reply_key: reply_key.clone(),
            deadline_ms: deadline.timestamp_millis(),
        };
        let bytes = rmp_serde::to_vec_named(&queued).map_err(|_| "the command does not encode")?;
        let unreachable = "the cluster's Redis cannot be reached";
        let mut redis = self.connection().await.map_err(|_| unreachable)?;
        let _: i64 = redis::cmd("RPUSH")
            .arg(&self.queue)
            .arg(bytes)
            .query_async(&mut redis)
            .await
            .map_err(|_| unreachable)?;
        let popped: Option<(String, Vec<u8>)> = redis::cmd("BLPOP")
            .arg(&reply_key)
            .arg(ANSWER_WITHIN.as_secs_f64())
            .query_async(&mut redis)
            .await
            .map_err(|_| unreachable)?;
        let (_, bytes) =
            popped.ok_or("no node that ingests answered in time (a failover may be under way)")?;
        rmp_serde::from_slice(&bytes).map_err(|_| "the answer does not decode")
    }

    /// The agent bridge's outcome of `command`, carried out by the leader.
    async fn ask_bridge(&self, command: Command) -> Result<Option<pb::Call>, CommandError> {
        let unavailable = |what: &str| CommandError::Unavailable(what.to_owned());
        match self.ask(Asked::Bridge(command)).await {
            Ok(Answered::Bridge(Ok(Some(call)))) => pb::Call::decode(&call[..])
                .map(Some)
                .map_err(|_| unavailable("the answer does not decode")),
            Ok(Answered::Bridge(Ok(None))) => Ok(None),
            Ok(Answered::Bridge(Err(error))) => Err(error),
            Ok(Answered::Ami(_)) => Err(unavailable("the answer is not the command's")),
            Err(why) => Err(unavailable(why)),
        }
    }

    /// The PBX's reply to an AMI action, sent by the leader.
    async fn ask_ami(
        &self,
        name: String,
        fields: Vec<(String, String)>,
    ) -> Result<AmiReply, AmiError> {
        match self.ask(Asked::Ami { name, fields }).await {
            Ok(Answered::Ami(Ok(reply))) => Ok(reply.reply()),
            Ok(Answered::Ami(Err(error))) => Err(error),
            // The AMI connection is the leader's: without it, as when it is down.
            Ok(Answered::Bridge(_)) | Err(_) => Err(AmiError::NotConnected),
        }
    }

    /// Waits up to `block` for the next queued command.
    async fn next(
        &self,
        redis: &mut redis::aio::MultiplexedConnection,
        block: Duration,
    ) -> anyhow::Result<Option<Queued>> {
        let popped: Option<(String, Vec<u8>)> = redis::cmd("BLPOP")
            .arg(&self.queue)
            .arg(block.as_secs_f64())
            .query_async(redis)
            .await?;
        match popped {
            Some((_, bytes)) => Ok(Some(
                rmp_serde::from_slice(&bytes).context("a queued command")?,
            )),
            None => Ok(None),
        }
    }
}

/// While this node stands by, takes the commands its surfaces send its
/// bridge handle and has the leader carry them out; until `shutdown`.
pub async fn relay_while_standby(
    queue: CommandQueue,
    inbox: CommandInbox,
    role: Arc<NodeRole>,
    shutdown: CancellationToken,
) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        if role.is_leader() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // The bridge of a term holds the inbox while it runs.
        let Ok(mut commands) = inbox.try_lock() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let next = tokio::select! {
            next = commands.recv() => next,
            () = tokio::time::sleep(Duration::from_millis(100)) => continue,
            () = shutdown.cancelled() => return,
        };
        drop(commands);
        let Some((command, reply)) = next else {
            return;
        };
        let queue = queue.clone();
        tokio::spawn(async move {
            let _ = reply.send(queue.ask_bridge(command).await);
        });
    }
}

/// While this node stands by, takes the AMI actions its surfaces send (a
/// supervisor's `Originate`) and has the leader send them; until `shutdown`.
pub async fn relay_ami_while_standby(
    queue: CommandQueue,
    inbox: AmiInbox,
    role: Arc<NodeRole>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        if role.is_leader() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // The AMI client of a term holds the inbox while it runs.
        let Some(action) = inbox.take_unread(Duration::from_millis(100)).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let queue = queue.clone();
        tokio::spawn(async move {
            let outcome = queue
                .ask_ami(action.name.clone(), action.fields.clone())
                .await;
            action.answer(outcome);
        });
    }
}

/// While this node ingests (until `term` ends), carries out the commands
/// standby nodes queued, with `bridge` and `ami`, and answers each.
pub async fn serve_queued(
    queue: CommandQueue,
    bridge: Option<BridgeHandle>,
    ami: Option<AmiHandle>,
    term: CancellationToken,
) {
    let mut redis = loop {
        match queue.connection().await {
            Ok(redis) => break redis,
            Err(error) => {
                tracing::warn!(%error, "the command queue cannot be reached; trying again");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = term.cancelled() => return,
                }
            }
        }
    };
    loop {
        let next = tokio::select! {
            next = queue.next(&mut redis, Duration::from_secs(1)) => next,
            () = term.cancelled() => return,
        };
        let queued = match next {
            Ok(Some(queued)) => queued,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "the command queue cannot be read; trying again");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = term.cancelled() => return,
                }
                continue;
            }
        };
        if queued.deadline_ms < chrono::Utc::now().timestamp_millis() {
            tracing::info!("a queued command past its caller's wait; not carried out");
            continue;
        }
        let (bridge, ami, queue) = (bridge.clone(), ami.clone(), queue.clone());
        tokio::spawn(async move {
            let answered = match queued.asked {
                Asked::Bridge(command) => Answered::Bridge(match &bridge {
                    Some(bridge) => bridge
                        .send(command)
                        .await
                        .map(|call| call.map(|call| call.encode_to_vec())),
                    None => Err(CommandError::NotRunning),
                }),
                Asked::Ami { name, fields } => Answered::Ami(match &ami {
                    Some(ami) => {
                        let fields: Vec<(&str, &str)> = fields
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        ami.send(&name, &fields)
                            .await
                            .map(|reply| WireReply::of(&reply))
                    }
                    None => Err(AmiError::NotConnected),
                }),
            };
            let Ok(bytes) = rmp_serde::to_vec_named(&answered) else {
                return;
            };
            let Ok(mut redis) = queue.connection().await else {
                return;
            };
            let _: redis::RedisResult<()> = redis::pipe()
                .rpush(&queued.reply_key, bytes)
                .ignore()
                .expire(&queued.reply_key, ANSWER_WITHIN.as_secs() as i64 * 3)
                .ignore()
                .query_async(&mut redis)
                .await;
        });
    }
}
