//! News between the nodes of a cluster: a Redis pub/sub channel per kind
//! of news (where Socket.IO sockets stand, which chat agents are online).
//! Each node publishes its own news and takes in everyone's, its own
//! included (so news is applied in one order everywhere); news is a hint
//! kept in memory, never the log's truth, and a node that was away simply
//! missed what was said meanwhile.

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Publishes what `outgoing` brings on `channel` of the Redis at `url`, and
/// hands every message of the channel to `take`, until `shutdown`.
/// Reconnects after a lost connection (news said meanwhile is lost).
pub async fn relay<T: Serialize + DeserializeOwned>(
    url: String,
    channel: String,
    mut outgoing: mpsc::UnboundedReceiver<T>,
    take: impl Fn(T),
    shutdown: CancellationToken,
) {
    loop {
        let connected = async {
            let client = redis::Client::open(url.as_str())?;
            let publisher = client.get_multiplexed_async_connection().await?;
            let mut subscriber = client.get_async_pubsub().await?;
            subscriber.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>((publisher, subscriber))
        };
        let (mut publisher, mut subscriber) = tokio::select! {
            connected = connected => match connected {
                Ok(connected) => connected,
                Err(error) => {
                    tracing::warn!(%error, %channel, "the cluster's news cannot reach Redis; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            },
            () = shutdown.cancelled() => return,
        };
        let mut messages = subscriber.on_message();
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    match rmp_serde::from_slice::<T>(message.get_payload_bytes()) {
                        Ok(news) => take(news),
                        Err(error) => tracing::debug!(%error, %channel, "news that does not decode"),
                    }
                }
                news = outgoing.recv() => {
                    let Some(news) = news else { return };
                    let Ok(bytes) = rmp_serde::to_vec_named(&news) else { continue };
                    let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(bytes)
                        .query_async(&mut publisher)
                        .await;
                    if let Err(error) = sent {
                        tracing::warn!(%error, %channel, "news not published");
                        break;
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    }
}
