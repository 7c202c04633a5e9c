//! Commands from any node: an agent's answer, a supervisor's barge or a
//! queue assignment taken by a standby reaches the agent bridge of the node
//! that ingests, through Redis, and its outcome comes back the same way:
//! the caller gets the acknowledgement or the refusal one node would give.
//!
//! A standby's command relay reads its own bridge handle's inbox (nobody
//! else does while it stands by), queues each command on
//! `{name}:commands` with a reply key and a deadline, and waits for the
//! outcome on that key. The leader's command server pops the queue, hands
//! each command still within its deadline to its bridge, and pushes the
//! outcome to the reply key, which expires unread after a while.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::NodeRole;
use crate::proto::v1 as pb;
use crate::sources::ari::bridge::{BridgeHandle, Command, CommandError, CommandInbox};

/// How long a standby waits for the leader's answer to a command.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A command queued for the leader.
#[derive(Serialize, Deserialize)]
struct Queued {
    command: Command,
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

    /// Queues `command` for the leader and waits for its outcome.
    async fn ask(&self, command: Command) -> Result<Option<pb::Call>, CommandError> {
        let unavailable = |what: &str| CommandError::Unavailable(what.to_owned());
        let reply_key = format!("{}:{}", self.replies, uuid::Uuid::new_v4().simple());
        let deadline =
            chrono::Utc::now() + chrono::Duration::from_std(ANSWER_WITHIN).unwrap_or_default();
        let queued = Queued {
            command,
            reply_key: reply_key.clone(),
            deadline_ms: deadline.timestamp_millis(),
        };
        let bytes = rmp_serde::to_vec_named(&queued)
            .map_err(|_| unavailable("the command does not encode"))?;
        let mut redis = self
            .connection()
            .await
            .map_err(|_| unavailable("the cluster's Redis cannot be reached"))?;
        let _: i64 = redis::cmd("RPUSH")
            .arg(&self.queue)
            .arg(bytes)
            .query_async(&mut redis)
            .await
            .map_err(|_| unavailable("the cluster's Redis cannot be reached"))?;
        let popped: Option<(String, Vec<u8>)> = redis::cmd("BLPOP")
            .arg(&reply_key)
            .arg(ANSWER_WITHIN.as_secs_f64())
            .query_async(&mut redis)
            .await
            .map_err(|_| unavailable("the cluster's Redis cannot be reached"))?;
        let Some((_, bytes)) = popped else {
            return Err(unavailable(
                "no node that ingests answered in time (a failover may be under way)",
            ));
        };
        let outcome: Outcome =
            rmp_serde::from_slice(&bytes).map_err(|_| unavailable("the answer does not decode"))?;
        match outcome {
            Ok(Some(call)) => pb::Call::decode(&call[..])
                .map(Some)
                .map_err(|_| unavailable("the answer does not decode")),
            Ok(None) => Ok(None),
            Err(error) => Err(error),
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
            let _ = reply.send(queue.ask(command).await);
        });
    }
}

/// While this node ingests (until `term` ends), carries out the commands
/// standby nodes queued, with `bridge`, and answers each.
pub async fn serve_queued(queue: CommandQueue, bridge: BridgeHandle, term: CancellationToken) {
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
            tracing::info!(session = %queued.command.session, "a queued command past its caller's wait; not carried out");
            continue;
        }
        let (bridge, queue) = (bridge.clone(), queue.clone());
        tokio::spawn(async move {
            let outcome: Outcome = bridge
                .send(queued.command)
                .await
                .map(|call| call.map(|call| call.encode_to_vec()));
            let Ok(bytes) = rmp_serde::to_vec_named(&outcome) else {
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
