//! The NATS broker, on async-nats.
//!
//! - Fan-out: core NATS on the subject `packwire.{cluster}.bus`. async-nats reconnects
//!   and resubscribes by itself; its connection events become [`Bus::Down`] and
//!   [`Bus::Subscribed`].
//! - Presence: core NATS stores nothing, so it lives in two JetStream key-value buckets
//!   (`nats-server -js`): `packwire_{cluster}_nodes` (a key per live node, the bucket's
//!   `max_age` is the TTL) and `packwire_{cluster}_presence` (`u.{node}.{user}` and
//!   `g.{node}.{group}` = member count, `max_age` twice the TTL, so a dead node's users
//!   can still be read for its leave events). A bucket has one age for all its keys, so
//!   a node renews its keys by writing them again: [`PresenceWrite::full`] writes every
//!   one; a key is removed by purging its subject, so nothing is left behind. Names are hex in keys (a key allows only `[-/_=.a-zA-Z0-9]`). The buckets are
//!   created when missing, again after a broker that lost them restarts.

use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;

use crate::broker::{BoxFuture, Broker, Bus, ClusterError, PresenceWrite};

const NAME: &str = "nats";

/// A cluster's NATS broker.
pub struct NatsBroker {
    client: async_nats::Client,
    js: jetstream::Context,
    cluster: String,
    /// the two buckets, made on first use and again after the broker lost them
    buckets: tokio::sync::Mutex<Option<(Bucket, Bucket, Duration)>>,
    /// the client's connection events, until the subscription takes them
    events: Mutex<Option<mpsc::UnboundedReceiver<async_nats::Event>>>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

fn err<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> ClusterError {
    move |e| ClusterError::broker(NAME, what, e)
}

/// Every operation is bounded: while the broker is unreachable it fails after this.
const DEADLINE: Duration = Duration::from_secs(3);

async fn bounded<T>(
    what: &'static str,
    f: impl std::future::Future<Output = Result<T, ClusterError>>,
) -> Result<T, ClusterError> {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| Err(ClusterError::broker(NAME, what, "timed out")))
}

fn hex(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * s.len());
    for b in s.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A key-value bucket, with its stream for what the KV API does not do cheaply: keys
/// are listed from the stream's subjects (one request, no consumer), and removed by
/// purging their subject (no delete marker is left to list or to age out).
#[derive(Clone)]
struct Bucket {
    kv: kv::Store,
    stream: jetstream::stream::Stream,
    name: String,
}

impl Bucket {
    fn subject(&self, key: &str) -> String {
        format!("$KV.{}.{key}", self.name)
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), ClusterError> {
        self.kv.put(key, value).await.map_err(err("put"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, ClusterError> {
        self.kv.get(key).await.map_err(err("get"))
    }

    async fn remove(&self, key_or_wildcard: &str) -> Result<(), ClusterError> {
        self.stream
            .purge()
            .filter(self.subject(key_or_wildcard))
            .await
            .map_err(err("remove"))?;
        Ok(())
    }

    /// The keys that start with `prefix` (which ends in `.`, or is empty).
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, ClusterError> {
        let strip = self.subject("");
        let subjects: Vec<(String, usize)> = self
            .stream
            .info_with_subjects(format!("{strip}{prefix}>"))
            .await
            .map_err(err("list keys"))?
            .try_collect()
            .await
            .map_err(err("list keys"))?;
        Ok(subjects
            .into_iter()
            .filter_map(|(s, _)| Some(s.strip_prefix(&strip)?.strip_prefix(prefix)?.to_string()))
            .collect())
    }
}

impl NatsBroker {
    /// Connects to `url` (`nats://host:port`) for the cluster named `cluster`.
    pub async fn connect(url: &str, cluster: &str) -> Result<Self, ClusterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .request_timeout(Some(DEADLINE))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((50 * attempts as u64).min(1000))
            })
            .event_callback(move |e| {
                let _ = tx.send(e);
                async {}
            })
            .connect(url)
            .await
            .map_err(err("connect"))?;
        let js = jetstream::new(client.clone());
        Ok(NatsBroker {
            client,
            js,
            cluster: cluster.to_string(),
            buckets: tokio::sync::Mutex::new(None),
            events: Mutex::new(Some(rx)),
        })
    }

    fn subject(&self) -> String {
        format!("packwire.{}.bus", self.cluster)
    }

    /// The buckets, for a TTL (`None`: any, as already made).
    async fn buckets(&self, ttl: Option<Duration>) -> Result<(Bucket, Bucket), ClusterError> {
        let mut b = self.buckets.lock().await;
        if let Some((nodes, presence, made)) = &*b {
            if ttl.is_none_or(|t| t == *made) {
                return Ok((nodes.clone(), presence.clone()));
            }
        }
        let ttl = ttl
            .or(b.as_ref().map(|x| x.2))
            .unwrap_or(Duration::from_secs(30));
        let base = format!("packwire_{}", self.cluster);
        let nodes = self.bucket(format!("{base}_nodes"), ttl).await?;
        let presence = self.bucket(format!("{base}_presence"), 2 * ttl).await?;
        *b = Some((nodes.clone(), presence.clone(), ttl));
        Ok((nodes, presence))
    }

    /// A key-value bucket whose keys age out after `age`. Its stream is made here, as a
    /// KV bucket's is (one message per subject, roll-ups, direct gets): async-nats's
    /// `create_key_value` first reads the account's API level, which nats-server 2.9
    /// (Debian 12's) does not report.
    async fn bucket(&self, name: String, age: Duration) -> Result<Bucket, ClusterError> {
        let config = jetstream::stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age: age,
            max_bytes: -1,
            max_message_size: -1,
            storage: jetstream::stream::StorageType::Memory,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: 1,
            discard: jetstream::stream::DiscardPolicy::New,
            duplicate_window: age.min(Duration::from_secs(120)),
            ..Default::default()
        };
        let what = "create a presence bucket";
        let stream = match self.js.create_stream(config.clone()).await {
            Ok(s) => s,
            // made by another node with another TTL: take the TTL of this one
            Err(_) => {
                self.js.update_stream(config).await.map_err(err(what))?;
                self.js
                    .get_stream(format!("KV_{name}"))
                    .await
                    .map_err(err(what))?
            }
        };
        let kv = self.js.get_key_value(&name).await.map_err(err(what))?;
        Ok(Bucket {
            kv,
            stream: jetstream::stream::Stream::clone(&stream),
            name,
        })
    }

    async fn forget_buckets(&self) {
        *self.buckets.lock().await = None;
    }

    async fn live_nodes(&self) -> Result<Vec<String>, ClusterError> {
        let (nodes, _) = self.buckets(None).await?;
        let mut live: Vec<String> = nodes
            .keys("")
            .await?
            .iter()
            .filter_map(|k| unhex(k))
            .collect();
        live.sort_unstable();
        Ok(live)
    }

    async fn write(
        &self,
        node: &str,
        ttl: Duration,
        w: &PresenceWrite,
    ) -> Result<(), ClusterError> {
        let (nodes, presence) = self.buckets(Some(ttl)).await?;
        let n = hex(node);
        nodes.put(&n, Bytes::new()).await?;
        if w.full {
            // what is not written again ages out; what went is removed now
            let mut keep: std::collections::HashSet<String> = w
                .online
                .iter()
                .map(|u| format!("u.{n}.{}", hex(u)))
                .collect();
            keep.extend(w.groups.iter().map(|(g, _)| format!("g.{n}.{}", hex(g))));
            for kind in ["u", "g"] {
                for k in presence.keys(&format!("{kind}.{n}.")).await? {
                    let key = format!("{kind}.{n}.{k}");
                    if !keep.contains(&key) {
                        presence.remove(&key).await?;
                    }
                }
            }
        }
        for u in &w.online {
            presence
                .put(&format!("u.{n}.{}", hex(u)), Bytes::new())
                .await?;
        }
        for u in &w.offline {
            presence.remove(&format!("u.{n}.{}", hex(u))).await?;
        }
        for (g, count) in &w.groups {
            let key = format!("g.{n}.{}", hex(g));
            if *count == 0 {
                presence.remove(&key).await?;
            } else {
                presence.put(&key, Bytes::from(count.to_string())).await?;
            }
        }
        Ok(())
    }

    async fn run_subscription(
        client: async_nats::Client,
        subject: String,
        events: Option<mpsc::UnboundedReceiver<async_nats::Event>>,
        tx: mpsc::Sender<Bus>,
    ) {
        let mut sub = loop {
            match client.subscribe(subject.clone()).await {
                Ok(s) => break s,
                Err(_) if !tx.is_closed() => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => return,
            }
        };
        if tx.send(Bus::Subscribed).await.is_err() {
            return;
        }
        let mut events = events;
        loop {
            let ev = async {
                match &mut events {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let out = tokio::select! {
                msg = sub.next() => match msg {
                    Some(m) => Bus::Frame(m.payload),
                    None => return,
                },
                e = ev => match e {
                    // async-nats resubscribes on reconnect, before it reports it
                    Some(async_nats::Event::Connected) => Bus::Subscribed,
                    Some(async_nats::Event::Disconnected) => Bus::Down("disconnected".into()),
                    Some(_) => continue,
                    None => { events = None; continue }
                },
            };
            if tx.send(out).await.is_err() {
                return;
            }
        }
    }
}

impl Broker for NatsBroker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn publish<'a>(&'a self, frames: &'a [Bytes]) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(bounded("publish", async move {
            let subject = self.subject();
            for f in frames {
                self.client
                    .publish(subject.clone(), f.clone())
                    .await
                    .map_err(err("publish"))?;
            }
            Ok(())
        }))
    }

    fn subscribe(&self, tx: mpsc::Sender<Bus>) -> BoxFuture<'static, ()> {
        let events = self.events.lock().ok().and_then(|mut e| e.take());
        Box::pin(Self::run_subscription(
            self.client.clone(),
            self.subject(),
            events,
            tx,
        ))
    }

    fn write_presence<'a>(
        &'a self,
        node: &'a str,
        ttl: Duration,
        w: &'a PresenceWrite,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let r = bounded("presence write", self.write(node, ttl, w)).await;
            if r.is_err() {
                // a broker that restarted without its store lost the buckets: make them
                // again on the next write
                self.forget_buckets().await;
            }
            r
        })
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<String>, ClusterError>> {
        Box::pin(bounded("nodes", self.live_nodes()))
    }

    fn nodes_of<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<String>, ClusterError>> {
        Box::pin(bounded("nodes_of", async move {
            let (_, presence) = self.buckets(None).await?;
            let u = hex(user);
            let mut on = Vec::new();
            for n in self.live_nodes().await? {
                if presence.get(&format!("u.{}.{u}", hex(&n))).await?.is_some() {
                    on.push(n);
                }
            }
            Ok(on)
        }))
    }

    fn group_size<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<usize, ClusterError>> {
        Box::pin(bounded("group_size", async move {
            let (_, presence) = self.buckets(None).await?;
            let g = hex(group);
            let mut size = 0;
            for n in self.live_nodes().await? {
                if let Some(v) = presence.get(&format!("g.{}.{g}", hex(&n))).await? {
                    size += std::str::from_utf8(&v)
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                        .unwrap_or(0);
                }
            }
            Ok(size)
        }))
    }

    fn users_on<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<Vec<String>, ClusterError>> {
        Box::pin(bounded("users_on", async move {
            let (_, presence) = self.buckets(None).await?;
            let keys = presence.keys(&format!("u.{}.", hex(node))).await?;
            let mut users: Vec<String> = keys.iter().filter_map(|k| unhex(k)).collect();
            users.sort_unstable();
            Ok(users)
        }))
    }

    fn forget<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(bounded("forget", async move {
            let (nodes, presence) = self.buckets(None).await?;
            let n = hex(node);
            nodes.remove(&n).await?;
            presence.remove(&format!("u.{n}.>")).await?;
            presence.remove(&format!("g.{n}.>")).await
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trips_any_name() {
        for s in ["alice", "", "röom 1", "a.b>*"] {
            assert_eq!(super::unhex(&super::hex(s)).as_deref(), Some(s));
        }
        assert_eq!(super::unhex("zz"), None);
        assert_eq!(super::unhex("f"), None);
    }
}
