//! The Redis broker (Redis ≥ 6.2), on redis-rs.
//!
//! - Fan-out: one pub/sub channel, `packwire:{cluster}:bus`. Its subscription is a
//!   connection of its own, reconnected and resubscribed here (not by the client
//!   library), so every reconnect is seen and reported.
//! - Presence: per node, `packwire:{cluster}:alive:{node}` (a key with the TTL), a set of
//!   its users `…:u:{node}` and a hash of its groups' member counts `…:g:{node}`, both
//!   expiring at twice the TTL (so the users of a node that died can still be read for
//!   its leave events), and the set `…:nodes` of node names. Each write is one
//!   `MULTI`/`EXEC`. No clock is compared: liveness is the alive key's own expiry.
//! - Commands go over a `ConnectionManager` with a short connect and response timeout:
//!   while Redis is down they fail fast, and it reconnects in the background.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use crate::broker::{BoxFuture, Broker, Bus, ClusterError, PresenceWrite};

const NAME: &str = "redis";

/// A cluster's Redis broker.
#[derive(Clone)]
pub struct RedisBroker {
    client: redis::Client,
    commands: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn err(what: &'static str) -> impl FnOnce(redis::RedisError) -> ClusterError {
    move |e| ClusterError::broker(NAME, what, e)
}

impl RedisBroker {
    /// Connects to `url` (`redis://host:port[/db]`) for the cluster named `cluster`.
    pub async fn connect(url: &str, cluster: &str) -> Result<Self, ClusterError> {
        let client = redis::Client::open(url).map_err(err("open"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1)
            .set_factor(50)
            .set_max_delay(500);
        let commands = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(err("connect"))?;
        Ok(RedisBroker {
            client,
            commands,
            prefix: format!("packwire:{cluster}"),
        })
    }

    fn key(&self, kind: &str, node: &str) -> String {
        format!("{}:{kind}:{node}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}:bus", self.prefix)
    }

    async fn live_nodes(&self) -> Result<Vec<String>, ClusterError> {
        let mut c = self.commands.clone();
        let mut all: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}:nodes", self.prefix))
            .query_async(&mut c)
            .await
            .map_err(err("nodes"))?;
        all.sort_unstable();
        if all.is_empty() {
            return Ok(all);
        }
        let mut pipe = redis::pipe();
        for n in &all {
            pipe.cmd("EXISTS").arg(self.key("alive", n));
        }
        let alive: Vec<bool> = pipe.query_async(&mut c).await.map_err(err("nodes"))?;
        Ok(all
            .into_iter()
            .zip(alive)
            .filter_map(|(n, a)| a.then_some(n))
            .collect())
    }

    async fn run_subscription(self, tx: mpsc::Sender<Bus>) {
        let channel = self.channel();
        let mut delay = Duration::from_millis(50);
        let mut up = false;
        while !tx.is_closed() {
            let link = async {
                let mut ps = self.client.get_async_pubsub().await?;
                ps.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(ps)
            };
            let reason = match link.await {
                Ok(ps) => {
                    up = true;
                    delay = Duration::from_millis(50);
                    if tx.send(Bus::Subscribed).await.is_err() {
                        return;
                    }
                    let mut stream = ps.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let frame = Bytes::copy_from_slice(msg.get_payload_bytes());
                        if tx.send(Bus::Frame(frame)).await.is_err() {
                            return;
                        }
                    }
                    "the subscription connection closed".to_string()
                }
                Err(e) => e.to_string(),
            };
            if up {
                up = false;
                if tx.send(Bus::Down(reason)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

impl Broker for RedisBroker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn publish<'a>(&'a self, frames: &'a [Bytes]) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let channel = self.channel();
            let mut pipe = redis::pipe();
            for f in frames {
                pipe.cmd("PUBLISH").arg(&channel).arg(&f[..]).ignore();
            }
            let mut c = self.commands.clone();
            pipe.query_async::<()>(&mut c).await.map_err(err("publish"))
        })
    }

    fn subscribe(&self, tx: mpsc::Sender<Bus>) -> BoxFuture<'static, ()> {
        Box::pin(self.clone().run_subscription(tx))
    }

    fn write_presence<'a>(
        &'a self,
        node: &'a str,
        ttl: Duration,
        w: &'a PresenceWrite,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let (users, groups) = (self.key("u", node), self.key("g", node));
            let ttl_ms = ttl.as_millis().max(1) as u64;
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("SET")
                .arg(self.key("alive", node))
                .arg(1)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
            pipe.cmd("SADD")
                .arg(format!("{}:nodes", self.prefix))
                .arg(node)
                .ignore();
            if w.full {
                pipe.cmd("DEL").arg(&users).arg(&groups).ignore();
            }
            if !w.online.is_empty() {
                pipe.cmd("SADD").arg(&users).arg(&w.online).ignore();
            }
            if !w.offline.is_empty() {
                pipe.cmd("SREM").arg(&users).arg(&w.offline).ignore();
            }
            for (g, n) in &w.groups {
                if *n == 0 {
                    pipe.cmd("HDEL").arg(&groups).arg(g).ignore();
                } else {
                    pipe.cmd("HSET").arg(&groups).arg(g).arg(*n).ignore();
                }
            }
            for k in [&users, &groups] {
                pipe.cmd("PEXPIRE").arg(k).arg(2 * ttl_ms).ignore();
            }
            let mut c = self.commands.clone();
            pipe.query_async::<()>(&mut c)
                .await
                .map_err(err("presence write"))
        })
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<String>, ClusterError>> {
        Box::pin(self.live_nodes())
    }

    fn nodes_of<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<String>, ClusterError>> {
        Box::pin(async move {
            let live = self.live_nodes().await?;
            if live.is_empty() {
                return Ok(live);
            }
            let mut pipe = redis::pipe();
            for n in &live {
                pipe.cmd("SISMEMBER").arg(self.key("u", n)).arg(user);
            }
            let mut c = self.commands.clone();
            let on: Vec<bool> = pipe.query_async(&mut c).await.map_err(err("nodes_of"))?;
            Ok(live
                .into_iter()
                .zip(on)
                .filter_map(|(n, on)| on.then_some(n))
                .collect())
        })
    }

    fn group_size<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<usize, ClusterError>> {
        Box::pin(async move {
            let live = self.live_nodes().await?;
            if live.is_empty() {
                return Ok(0);
            }
            let mut pipe = redis::pipe();
            for n in &live {
                pipe.cmd("HGET").arg(self.key("g", n)).arg(group);
            }
            let mut c = self.commands.clone();
            let counts: Vec<Option<usize>> =
                pipe.query_async(&mut c).await.map_err(err("group_size"))?;
            Ok(counts.into_iter().flatten().sum())
        })
    }

    fn users_on<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<Vec<String>, ClusterError>> {
        Box::pin(async move {
            let mut c = self.commands.clone();
            let mut users: Vec<String> = redis::cmd("SMEMBERS")
                .arg(self.key("u", node))
                .query_async(&mut c)
                .await
                .map_err(err("users_on"))?;
            users.sort_unstable();
            Ok(users)
        })
    }

    fn forget<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("DEL")
                .arg(self.key("alive", node))
                .arg(self.key("u", node))
                .arg(self.key("g", node))
                .ignore();
            pipe.cmd("SREM")
                .arg(format!("{}:nodes", self.prefix))
                .arg(node)
                .ignore();
            let mut c = self.commands.clone();
            pipe.query_async::<()>(&mut c).await.map_err(err("forget"))
        })
    }
}
