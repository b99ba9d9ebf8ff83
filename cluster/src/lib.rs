//! Registry sends across the nodes of a cluster, through Redis or NATS, with the
//! cluster's presence (t-io's cluster edition, on existing brokers).
//!
//! A [`Cluster`] joins one server's [`Registry`](packwire_net::Registry) to a broker.
//! Every registry target has a cluster form ([`To`]): a connection of any node, a user,
//! a group, a token, a business id, an IP, all. A send is encoded once on the sending
//! node, queued for its own matching connections, and published as bytes; the other
//! nodes queue those bytes for theirs without re-encoding them.
//!
//! # Semantics
//! - **At most once** to other nodes. A send returns what it did locally (connections
//!   reached) and whether it was published ([`Sent`]); a published envelope reaches the
//!   nodes subscribed at that moment, and nothing is kept for a node that is not.
//! - **Order** holds per sending node and target: one node publishes in send order over
//!   one connection, and every node delivers in arrival order.
//! - **While the broker is unreachable** sends fail fast: local delivery goes on,
//!   the remote part is [`Remote::Unreachable`] and counted as dropped; nothing queues
//!   for later. The publish queue between the senders and the broker is bounded
//!   ([`ClusterConfig::queue`]); past it a send is [`Remote::Full`].
//! - **Resubscription** after the broker restarts is automatic: the node reconnects,
//!   resubscribes, writes its whole presence again, counts it
//!   ([`ClusterStats::resubscribes`]) and says so ([`ClusterEvent::Resubscribed`]).
//! - **Presence** ([`Cluster::is_online`], [`Cluster::nodes_of`],
//!   [`Cluster::group_size`]) lives in the broker with a TTL that each node renews: a node
//!   that dies disappears within the TTL, and the others report its users as
//!   [`ClusterEvent::Left`] at their next check. Joins and leaves on every node are
//!   events.
//! - A slow node slows no one else: every node delivers into its connections' queues
//!   without waiting, and a broker drops (Redis's output buffer limit) or disconnects
//!   (NATS's slow consumer) a subscriber that does not keep up.
//!
//! # Brokers
//! [`connect`] picks by URL: `redis://` (redis-rs: pub/sub for fan-out, keys with TTLs
//! for presence; Redis ≥ 6.2) or `nats://` (async-nats: core pub/sub for fan-out, a
//! JetStream key-value bucket for presence; `nats-server -js`). Both are the [`Broker`]
//! trait, which a user can implement for another broker.
//!
//! [`chat`] is an IM server on it: the `packwire chat` command and the tutorial.

pub mod broker;
pub mod chat;
mod envelope;
#[cfg(feature = "nats")]
pub mod nats;
mod node;
mod presence;
#[cfg(feature = "redis")]
pub mod redis;
mod stats;
pub mod testing;

pub use broker::{BoxFuture, Broker, Bus, ClusterError, PresenceWrite, connect};
pub use envelope::{Envelope, EnvelopeError, TargetKind, To, decode, encode_presence, encode_send};
pub use node::{Cluster, ClusterConfig, ClusterEvent, Remote, Sent};
pub use stats::ClusterStats;
