//! The broker behind a cluster: one trait, a Redis and a NATS implementation, picked by
//! the URL's scheme.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

/// A boxed future, so that [`Broker`] can be a trait object (a cluster picks its broker
/// by configuration, at run time).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The URL names no broker this build knows (`redis://`, `nats://`).
    #[error("cluster URL {0:?}: the scheme must be redis:// or nats:// (and its feature on)")]
    Url(String),
    /// The broker could not be reached or refused an operation.
    #[error("{broker}: {what}: {reason}")]
    Broker {
        /// `redis` or `nats`.
        broker: &'static str,
        /// The operation.
        what: &'static str,
        /// What the client library said.
        reason: String,
    },
    /// The node name is empty or too long (it travels in every envelope).
    #[error("node name {0:?}: 1 to 200 bytes")]
    NodeName(String),
}

impl ClusterError {
    pub(crate) fn broker(broker: &'static str, what: &'static str, e: impl fmt::Display) -> Self {
        ClusterError::Broker {
            broker,
            what,
            reason: e.to_string(),
        }
    }
}

/// What the subscription reports.
#[derive(Debug)]
pub enum Bus {
    /// A frame published by some node (this one included).
    Frame(Bytes),
    /// The subscription is in place: the first time, and again after every reconnect.
    Subscribed,
    /// The link to the broker broke; the broker's subscription loop reconnects.
    Down(String),
}

/// One node's share of the presence, to write to the broker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PresenceWrite {
    /// Replace everything the broker holds for this node (after a reconnect, and now and
    /// then), rather than apply a change.
    pub full: bool,
    /// Users now online on this node.
    pub online: Vec<String>,
    /// Users no longer online on this node.
    pub offline: Vec<String>,
    /// Groups whose member count on this node changed, with the new count (0: gone).
    pub groups: Vec<(String, usize)>,
}

/// A broker: fan-out of frames to every node, and a presence store with a TTL.
///
/// Implementations own their reconnection: [`subscribe`](Self::subscribe) runs for the
/// cluster's life, reconnecting and resubscribing by itself and saying so with
/// [`Bus::Down`] and [`Bus::Subscribed`]; the other operations fail fast while the
/// broker is unreachable (the cluster counts and reports it) and work again once it is
/// back.
pub trait Broker: Send + Sync + fmt::Debug + 'static {
    /// `redis`, `nats`, or your own.
    fn name(&self) -> &'static str;

    /// Publishes frames to every node, in order.
    fn publish<'a>(&'a self, frames: &'a [Bytes]) -> BoxFuture<'a, Result<(), ClusterError>>;

    /// Runs the subscription to the cluster's frames until `tx` closes.
    fn subscribe(&self, tx: mpsc::Sender<Bus>) -> BoxFuture<'static, ()>;

    /// Writes this node's presence and renews its TTL: the node counts as alive for
    /// `ttl` after this call, and its users and groups as long as it does.
    fn write_presence<'a>(
        &'a self,
        node: &'a str,
        ttl: Duration,
        write: &'a PresenceWrite,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;

    /// The nodes alive now (their TTL not passed), sorted.
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<String>, ClusterError>>;

    /// The live nodes `user` is online on, sorted.
    fn nodes_of<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<String>, ClusterError>>;

    /// Members of `group` over the live nodes.
    fn group_size<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<usize, ClusterError>>;

    /// The users the broker still holds for `node` (alive or not), for the leave events
    /// of a node that died.
    fn users_on<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<Vec<String>, ClusterError>>;

    /// Drops what the broker holds for `node` (a node that died, or one leaving).
    fn forget<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ClusterError>>;
}

/// Connects to the broker a URL names: `redis://host:port[/db]` or `nats://host:port`.
/// `cluster` names the cluster: its channel, subject and keys, so several clusters can
/// share a broker.
pub async fn connect(url: &str, cluster: &str) -> Result<Arc<dyn Broker>, ClusterError> {
    #[cfg(feature = "redis")]
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return Ok(Arc::new(
            crate::redis::RedisBroker::connect(url, cluster).await?,
        ));
    }
    #[cfg(feature = "nats")]
    if url.starts_with("nats://") {
        return Ok(Arc::new(
            crate::nats::NatsBroker::connect(url, cluster).await?,
        ));
    }
    let _ = cluster;
    Err(ClusterError::Url(url.to_string()))
}
