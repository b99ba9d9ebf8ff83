//! One node of a cluster: its registry joined to the broker.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_net::{ConnId, EncodeError, Registry};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::broker::{Broker, Bus, ClusterError};
use crate::envelope::{self, Envelope, TargetKind, To};
use crate::presence::Snapshot;
use crate::stats::{ClusterStats, Counters};

/// How a node joins its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (it travels in every envelope; 1-200
    /// bytes).
    pub node: String,
    /// The cluster's name: its channel or subject and its keys (`[A-Za-z0-9_-]`), so
    /// several clusters can share one broker. Default `packwire`.
    pub cluster: String,
    /// How long the node counts as alive after its last presence write. It writes every
    /// third of it; a node that dies is gone from the presence within `ttl`, and its
    /// users' leave events come at the next check after that. Default 15 s.
    pub ttl: Duration,
    /// Envelopes waiting for the broker, at most; a send past it is not published
    /// ([`Remote::Full`]). Default 8,192.
    pub queue: usize,
}

impl ClusterConfig {
    /// A node named `node` of the cluster `packwire`, with the defaults.
    pub fn new(node: impl Into<String>) -> Self {
        ClusterConfig {
            node: node.into(),
            cluster: "packwire".into(),
            ttl: Duration::from_secs(15),
            queue: 8192,
        }
    }

    /// The cluster's name.
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = name.into();
        self
    }

    /// The presence TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The publish queue's bound.
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = n.max(1);
        self
    }
}

/// What became of the remote part of a send. Remote delivery is **at most once**: a
/// published envelope reaches the nodes subscribed at that moment, or is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// Queued for the broker.
    Queued,
    /// The target cannot be on another node (a connection of this node).
    NotNeeded,
    /// The broker is unreachable: not published (sends fail fast, they do not wait for
    /// the broker to come back).
    Unreachable,
    /// The publish queue is full (the broker is slower than the senders): not published.
    Full,
}

/// What a cluster send did: how many connections of this node it was queued for (known
/// now), and what became of its publication to the other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Connections of this node reached.
    pub local: usize,
    /// The publication.
    pub remote: Remote,
}

/// What happens in the cluster, for [`Cluster::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A user's first connection on `node` bound (this node's or another's).
    Joined {
        /// The user.
        user: String,
        /// The node.
        node: String,
    },
    /// A user's last connection on `node` went, or `node` died.
    Left {
        /// The user.
        user: String,
        /// The node.
        node: String,
    },
    /// A node appeared in the presence.
    NodeUp(String),
    /// A node's TTL passed without a write: it is taken as dead.
    NodeDown(String),
    /// The link to the broker broke.
    BrokerDown(String),
    /// The subscription is back after a break; `after` is how long it was down.
    Resubscribed {
        /// From the break to the new subscription.
        after: Duration,
    },
}

struct Core<M> {
    node: String,
    ttl: Duration,
    registry: Registry<M>,
    broker: Arc<dyn Broker>,
    /// envelopes for the broker: a send's, with its target kind, or a presence change's
    publish: mpsc::Sender<(Option<TargetKind>, Bytes)>,
    up: AtomicBool,
    counters: Counters,
    events: broadcast::Sender<ClusterEvent>,
    /// a full presence write is due (after a resubscription)
    rewrite: Notify,
    /// nodes seen alive at the last check
    seen: std::sync::Mutex<BTreeSet<String>>,
}

struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// A node of a cluster: the registry of one server (or client), whose sends reach
/// matching connections on every node, and the cluster's presence.
///
/// Sends encode the message once, queue it for this node's connections and publish the
/// bytes to the broker; every other node queues those bytes, as they are, for its own
/// matching connections (nothing re-encodes them) and ignores what it published itself.
/// Ordering holds per sending node and target: envelopes are published in send order on
/// one connection, and each node delivers them in the order they arrive.
///
/// ```no_run
/// # use bytes::Bytes;
/// # async fn run(registry: packwire_net::Registry<Bytes>) -> Result<(), Box<dyn std::error::Error>> {
/// use packwire_cluster::{Cluster, ClusterConfig};
///
/// let broker = packwire_cluster::connect("redis://127.0.0.1:6379", "chat").await?;
/// let cluster = Cluster::join(registry, broker, ClusterConfig::new("node-1")).await?;
/// let sent = cluster.send_to_user("alice", Bytes::from_static(b"FROM bob hi\n"))?;
/// println!("{} here, {:?} elsewhere", sent.local, sent.remote);
/// println!("alice is on {:?}", cluster.nodes_of("alice").await?);
/// # Ok(()) }
/// ```
pub struct Cluster<M> {
    core: Arc<Core<M>>,
    _tasks: Arc<Tasks>,
}

impl<M> Clone for Cluster<M> {
    fn clone(&self) -> Self {
        Cluster {
            core: self.core.clone(),
            _tasks: self._tasks.clone(),
        }
    }
}

impl<M> fmt::Debug for Cluster<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.core.node)
            .field("broker", &self.core.broker.name())
            .finish_non_exhaustive()
    }
}

fn valid_cluster_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<M: Send + 'static> Cluster<M> {
    /// Joins `registry` to the cluster through `broker` (see [`connect`](crate::connect)):
    /// writes this node's presence, subscribes, and starts the node's tasks, which stop
    /// when the last handle is dropped (or at [`leave`](Self::leave)).
    pub async fn join(
        registry: Registry<M>,
        broker: Arc<dyn Broker>,
        config: ClusterConfig,
    ) -> Result<Self, ClusterError> {
        if config.node.is_empty() || config.node.len() > 200 {
            return Err(ClusterError::NodeName(config.node));
        }
        if !valid_cluster_name(&config.cluster) {
            return Err(ClusterError::Url(format!(
                "cluster name {:?}: [A-Za-z0-9_-], 1 to 64",
                config.cluster
            )));
        }
        let first = Snapshot::of(&registry);
        broker
            .write_presence(&config.node, config.ttl, &first.full())
            .await?;
        let seen = broker.nodes().await?.into_iter().collect();
        let (publish, publish_rx) = mpsc::channel(config.queue.max(1));
        let (events, _) = broadcast::channel(1024);
        let core = Arc::new(Core {
            node: config.node,
            ttl: config.ttl,
            registry,
            broker,
            publish,
            up: AtomicBool::new(false),
            counters: Counters::default(),
            events,
            rewrite: Notify::new(),
            seen: std::sync::Mutex::new(seen),
        });
        let (bus_tx, bus_rx) = mpsc::channel(1024);
        let mut tasks = vec![
            tokio::spawn(core.broker.subscribe(bus_tx)),
            tokio::spawn(publisher(core.clone(), publish_rx)),
        ];
        // the node sends only once its subscription is in place, so what it publishes
        // from here on can be answered
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tasks.push(tokio::spawn(receiver(core.clone(), bus_rx, ready_tx)));
        tasks.push(tokio::spawn(presence(core.clone(), first)));
        let cluster = Cluster {
            core,
            _tasks: Arc::new(Tasks(tasks)),
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), ready_rx).await;
        Ok(cluster)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.core.node
    }

    /// The registry this node sends to.
    pub fn registry(&self) -> &Registry<M> {
        &self.core.registry
    }

    /// Whether the subscription is up now.
    pub fn is_connected(&self) -> bool {
        self.core.up.load(Ordering::Acquire)
    }

    /// Encodes `msg` once, queues it for this node's connections `to` names and
    /// publishes it to the others. Never waits.
    pub fn send(&self, to: To<'_>, msg: M) -> Result<Sent, EncodeError> {
        let bytes = self.core.registry.encode(msg)?;
        Ok(self.send_encoded(to, bytes))
    }

    /// As [`send`](Self::send), for bytes already encoded by the connections' codec.
    pub fn send_encoded(&self, to: To<'_>, bytes: Bytes) -> Sent {
        let core = &self.core;
        let local = to
            .local(&core.node)
            .map_or(0, |t| core.registry.send_encoded(t, bytes.clone()));
        let remote = if !to.reaches_others(&core.node) {
            Remote::NotNeeded
        } else if !core.up.load(Ordering::Acquire) {
            core.counters.dropped(to.kind());
            Remote::Unreachable
        } else {
            let frame = envelope::encode_send(&core.node, &to, &bytes);
            match core.publish.try_send((Some(to.kind()), frame)) {
                Ok(()) => Remote::Queued,
                Err(_) => {
                    core.counters.dropped(to.kind());
                    Remote::Full
                }
            }
        };
        Sent { local, remote }
    }

    /// Sends to one connection of any node.
    pub fn send_to_conn(&self, node: &str, id: ConnId, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::Conn { node, id }, msg)
    }

    /// Sends to every connection of a user, on every node.
    pub fn send_to_user(&self, user: &str, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::User(user), msg)
    }

    /// Sends to every connection in a group, on every node.
    pub fn send_to_group(&self, group: &str, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::Group(group), msg)
    }

    /// Sends to the connection bound to a token, on whichever node it is.
    pub fn send_to_token(&self, token: &str, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::Token(token), msg)
    }

    /// Sends to the connection bound to a business id, on whichever node it is.
    pub fn send_to_bsid(&self, bsid: &str, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::Bsid(bsid), msg)
    }

    /// Sends to every connection from an IP address, on every node.
    pub fn send_to_ip(&self, ip: IpAddr, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::Ip(ip), msg)
    }

    /// Sends to every connection of every node.
    pub fn send_to_all(&self, msg: M) -> Result<Sent, EncodeError> {
        self.send(To::All, msg)
    }

    /// Whether `user` is online on any live node (asks the broker).
    pub async fn is_online(&self, user: &str) -> Result<bool, ClusterError> {
        Ok(!self.nodes_of(user).await?.is_empty())
    }

    /// The live nodes `user` is online on, sorted (asks the broker; this node's part is
    /// as of its last presence write, which follows every binding change at once).
    pub async fn nodes_of(&self, user: &str) -> Result<Vec<String>, ClusterError> {
        self.core.broker.nodes_of(user).await
    }

    /// Members of `group` over every live node (asks the broker).
    pub async fn group_size(&self, group: &str) -> Result<usize, ClusterError> {
        self.core.broker.group_size(group).await
    }

    /// The live nodes, sorted (asks the broker).
    pub async fn nodes(&self) -> Result<Vec<String>, ClusterError> {
        self.core.broker.nodes().await
    }

    /// The cluster's events from now on. A receiver that falls more than 1,024 events
    /// behind loses the oldest (`RecvError::Lagged`).
    pub fn events(&self) -> broadcast::Receiver<ClusterEvent> {
        self.core.events.subscribe()
    }

    /// What this node published, received and dropped, per target kind, and its links.
    pub fn stats(&self) -> ClusterStats {
        self.core
            .counters
            .snapshot(self.core.registry.users().len())
    }

    /// Leaves the cluster: stops this node's tasks and removes its presence from the
    /// broker, so the other nodes see its users leave at their next check rather than
    /// after the TTL.
    pub async fn leave(self) -> Result<(), ClusterError> {
        self._tasks.0.iter().for_each(JoinHandle::abort);
        self.core.broker.forget(&self.core.node).await
    }
}

impl<M> Core<M> {
    fn emit(&self, e: ClusterEvent) {
        let _ = self.events.send(e);
    }
}

async fn publisher<M>(core: Arc<Core<M>>, mut rx: mpsc::Receiver<(Option<TargetKind>, Bytes)>) {
    let mut batch: Vec<(Option<TargetKind>, Bytes)> = Vec::with_capacity(256);
    let mut frames: Vec<Bytes> = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        frames.extend(batch.iter().map(|(_, f)| f.clone()));
        match core.broker.publish(&frames).await {
            Ok(()) => batch
                .iter()
                .filter_map(|(k, _)| *k)
                .for_each(|k| core.counters.published(k)),
            Err(e) => {
                tracing::warn!(error = %e, lost = batch.len(), "cluster publish failed");
                batch
                    .iter()
                    .filter_map(|(k, _)| *k)
                    .for_each(|k| core.counters.dropped(k));
            }
        }
        batch.clear();
        frames.clear();
    }
}

async fn receiver<M: Send + 'static>(
    core: Arc<Core<M>>,
    mut rx: mpsc::Receiver<Bus>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut down_since: Option<Instant> = None;
    while let Some(item) = rx.recv().await {
        match item {
            Bus::Frame(frame) => deliver(&core, &frame),
            Bus::Subscribed => {
                core.up.store(true, Ordering::Release);
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                if let Some(since) = down_since.take() {
                    core.counters.resubscribed();
                    core.rewrite.notify_one();
                    core.emit(ClusterEvent::Resubscribed {
                        after: since.elapsed(),
                    });
                }
            }
            Bus::Down(reason) => {
                core.up.store(false, Ordering::Release);
                core.counters.broker_down();
                down_since.get_or_insert_with(Instant::now);
                tracing::warn!(%reason, broker = core.broker.name(), "cluster broker link down");
                core.emit(ClusterEvent::BrokerDown(reason));
            }
        }
    }
}

fn deliver<M: Send + 'static>(core: &Core<M>, frame: &Bytes) {
    match envelope::decode(frame) {
        Err(e) => {
            core.counters.bad_envelope();
            tracing::warn!(error = %e, "a cluster envelope was refused");
        }
        Ok(Envelope::Send { origin, .. }) if origin == core.node => {}
        Ok(Envelope::Send { to, payload, .. }) => {
            core.counters.received(to.kind());
            if let Some(t) = to.local(&core.node) {
                let n = core.registry.send_encoded(t, payload);
                core.counters.delivered(n);
            }
        }
        Ok(Envelope::Joined { origin, user }) if origin != core.node => {
            core.emit(ClusterEvent::Joined {
                user: user.into(),
                node: origin.into(),
            });
        }
        Ok(Envelope::Left { origin, user }) if origin != core.node => {
            core.emit(ClusterEvent::Left {
                user: user.into(),
                node: origin.into(),
            });
        }
        Ok(_) => {}
    }
}

/// Follows the registry: each change is written to the broker at once (and announced),
/// everything again every third of the TTL (which renews it), and the live nodes are
/// checked then for the dead.
async fn presence<M: Send + 'static>(core: Arc<Core<M>>, first: Snapshot) {
    let mut last = first;
    let mut need_full = false;
    let period = (core.ttl / 3).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // after a resubscription the broker may have restarted empty: the other nodes are
    // not judged until each has had a TTL to write again
    let mut judge_after = Instant::now();
    loop {
        let periodic = tokio::select! {
            _ = core.registry.changed() => false,
            _ = tick.tick() => true,
            _ = core.rewrite.notified() => {
                need_full = true;
                judge_after = Instant::now() + core.ttl;
                false
            }
        };
        let now = Snapshot::of(&core.registry);
        let delta = last.diff(&now);
        let write = if need_full || periodic {
            now.full()
        } else {
            delta.clone()
        };
        if write != Default::default() || periodic {
            match core
                .broker
                .write_presence(&core.node, core.ttl, &write)
                .await
            {
                Ok(()) => need_full = false,
                Err(e) => {
                    core.counters.presence_failed();
                    tracing::warn!(error = %e, "cluster presence write failed");
                    need_full = true;
                }
            }
        }
        announce(&core, &delta);
        last = now;
        if periodic && Instant::now() >= judge_after && core.up.load(Ordering::Acquire) {
            judge_nodes(&core).await;
        }
    }
}

fn announce<M>(core: &Core<M>, delta: &crate::broker::PresenceWrite) {
    for (users, joined) in [(&delta.online, true), (&delta.offline, false)] {
        for user in users {
            let frame = envelope::encode_presence(&core.node, user, joined);
            if core.up.load(Ordering::Acquire) {
                // not a send: not in the per-target statistics
                let _ = core.publish.try_send((None, frame));
            }
            let (user, node) = (user.clone(), core.node.clone());
            core.emit(if joined {
                ClusterEvent::Joined { user, node }
            } else {
                ClusterEvent::Left { user, node }
            });
        }
    }
}

/// Compares the live nodes with the last check: the new are up; the missing are dead,
/// their users left (read before their keys expire) and their keys dropped.
async fn judge_nodes<M>(core: &Core<M>) {
    let Ok(live) = core.broker.nodes().await else {
        return;
    };
    let live: BTreeSet<String> = live.into_iter().collect();
    let before = std::mem::replace(
        &mut *core.seen.lock().unwrap_or_else(|p| p.into_inner()),
        live.clone(),
    );
    for n in live.difference(&before).filter(|n| **n != core.node) {
        core.emit(ClusterEvent::NodeUp(n.clone()));
    }
    for dead in before.difference(&live).filter(|n| **n != core.node) {
        core.emit(ClusterEvent::NodeDown(dead.clone()));
        if let Ok(users) = core.broker.users_on(dead).await {
            for user in users {
                core.emit(ClusterEvent::Left {
                    user,
                    node: dead.clone(),
                });
            }
        }
        let _ = core.broker.forget(dead).await;
    }
}
