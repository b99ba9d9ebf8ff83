//! An IM chat server on packwire, one node or a cluster: the `packwire chat` command,
//! and the tutorial for "an IM server on packwire" (`examples/chat.rs` runs it).
//!
//! The protocol is lines of UTF-8 over TCP, one command each:
//!
//! | client → server | server → client |
//! |---|---|
//! | `LOGIN <user>` | `OK` or `ERR <reason>` (for every command) |
//! | `JOIN <group>`, `LEAVE <group>` | |
//! | `TO <user> <text>` | `FROM <user> <text>` to every connection of `<user>` |
//! | `GROUP <group> <text>` | `GROUP <group> <user> <text>` to the group's members |
//! | `ALL <text>` | `ALL <user> <text>` to everyone |
//! | `WHO <user>` | `ONLINE <user> <node>…` or `OFFLINE <user>` |
//! | `PING` | `PONG` |
//! | `QUIT` | `OK`, then the server closes |
//!
//! What it takes from packwire:
//! - the runtime's **auth gate**: a connection's first line must be a `LOGIN` within the
//!   deadline, or it is closed, and nothing else reaches the handler before;
//! - the **registry**: `LOGIN` binds the user (a user may be logged in on several
//!   connections and nodes: all receive), `JOIN` a group, and the sends are the
//!   registry's targets;
//! - the **idle timeout** as the heartbeat: a client that sends nothing, not even `PING`,
//!   for `idle` is evicted;
//! - with a [`Cluster`], every send reaches the other nodes too, and `WHO` asks the
//!   cluster's presence.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::LineCodec;
use packwire_net::{CloseReason, Conn, Registry, Server, ServerHandle, StatsSnapshot};

use crate::{Cluster, ClusterConfig, ClusterError, To};

/// How a chat node runs.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// The node's name (in `ONLINE` answers, and the cluster's node name).
    pub node: String,
    /// The broker of its cluster (`redis://…`, `nats://…`); `None` for one node.
    pub cluster: Option<String>,
    /// The presence TTL, with a cluster.
    pub ttl: Duration,
    /// How long a new connection has to `LOGIN`. Default 10 s.
    pub login_timeout: Duration,
    /// A client silent this long is evicted (clients `PING` to stay). Default 60 s.
    pub idle: Duration,
}

impl ChatConfig {
    /// A node named `node`, alone, with the defaults.
    pub fn new(node: impl Into<String>) -> Self {
        ChatConfig {
            node: node.into(),
            cluster: None,
            ttl: Duration::from_secs(15),
            login_timeout: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// Why a chat node did not start.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The address could not be bound.
    #[error("chat: cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// The cluster could not be joined.
    #[error("chat: {0}")]
    Cluster(#[from] ClusterError),
}

struct Node {
    name: String,
    cluster: OnceLock<Cluster<Bytes>>,
}

/// The user a connection logged in as.
#[derive(Clone)]
struct User(Arc<str>);

/// A running chat node.
#[derive(Debug)]
pub struct ChatServer {
    server: ServerHandle<Bytes>,
    cluster: Option<Cluster<Bytes>>,
}

impl ChatServer {
    /// Binds `listen`, joins the cluster if one is configured, and serves.
    pub async fn start(listen: SocketAddr, config: ChatConfig) -> Result<Self, ChatError> {
        let node = Arc::new(Node {
            name: config.node.clone(),
            cluster: OnceLock::new(),
        });
        let n = node.clone();
        let server = Server::builder(LineCodec::new, move |conn, line| {
            let node = n.clone();
            async move { node.handle(&conn, &line).await.map(Bytes::from) }
        })
        .auth_gate(config.login_timeout)
        .idle_timeout(config.idle)
        .bind(listen)
        .await?;
        let cluster = match &config.cluster {
            Some(url) => {
                let broker = crate::connect(url, "chat").await?;
                let cfg = ClusterConfig::new(config.node).ttl(config.ttl);
                let cluster = Cluster::join(server.registry().clone(), broker, cfg).await?;
                let _ = node.cluster.set(cluster.clone());
                Some(cluster)
            }
            None => None,
        };
        Ok(ChatServer { server, cluster })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Its cluster node, if it has one.
    pub fn cluster(&self) -> Option<&Cluster<Bytes>> {
        self.cluster.as_ref()
    }

    /// Closes every connection, leaves the cluster, and returns the server's statistics.
    pub async fn shutdown(self) -> StatsSnapshot {
        if let Some(c) = self.cluster {
            let _ = c.leave().await;
        }
        self.server.shutdown(Duration::from_secs(5)).await
    }
}

/// Splits `rest` at its first space: a name, and the text after it.
fn name_and_text(rest: &str) -> Option<(&str, &str)> {
    let (name, text) = rest.split_once(' ')?;
    (!name.is_empty() && !text.is_empty()).then_some((name, text))
}

/// A name is one word: non-empty, at most 64 bytes, no spaces or control characters.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Node {
    /// One command line; what it answers the sender.
    async fn handle(&self, conn: &Conn<Bytes>, line: &[u8]) -> Option<String> {
        let Ok(line) = std::str::from_utf8(line) else {
            return Some("ERR lines are UTF-8".into());
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let registry = conn.registry()?;
        let me = conn.attr::<User>();
        if line.is_empty() && me.is_some() {
            return None; // a blank line (an interactive client's Enter) needs no answer
        }
        let Some(User(me)) = me else {
            // the auth gate closes a connection whose first line does not log it in
            return Some(match (cmd, valid_name(rest)) {
                ("LOGIN", true) => {
                    registry.bind_user(conn, rest);
                    conn.set_attr(User(rest.into()));
                    conn.authenticate();
                    "OK".into()
                }
                ("LOGIN", false) => "ERR a user name is one word of up to 64 bytes".into(),
                _ => "ERR LOGIN first".into(),
            });
        };
        Some(match cmd {
            "LOGIN" => "ERR already logged in".into(),
            "JOIN" | "LEAVE" if valid_name(rest) => {
                if cmd == "JOIN" {
                    registry.join_group(conn, rest);
                } else {
                    registry.leave_group(conn, rest);
                }
                "OK".into()
            }
            "TO" => match name_and_text(rest) {
                Some((user, text)) => {
                    self.send(&registry, To::User(user), format!("FROM {me} {text}"))
                }
                None => "ERR usage: TO <user> <text>".into(),
            },
            "GROUP" => match name_and_text(rest) {
                Some((group, text)) => self.send(
                    &registry,
                    To::Group(group),
                    format!("GROUP {group} {me} {text}"),
                ),
                None => "ERR usage: GROUP <group> <text>".into(),
            },
            "ALL" if !rest.is_empty() => self.send(&registry, To::All, format!("ALL {me} {rest}")),
            "WHO" if valid_name(rest) => self.who(conn, rest).await,
            "PING" => "PONG".into(),
            "QUIT" => {
                conn.close(CloseReason::Kicked);
                "OK".into()
            }
            "JOIN" | "LEAVE" | "WHO" => format!("ERR usage: {cmd} <name>"),
            "ALL" => "ERR usage: ALL <text>".into(),
            _ => format!("ERR unknown command {cmd:?}"),
        })
    }

    /// Sends one line to `to` on every node (or this one alone); answers the sender.
    fn send(&self, registry: &Registry<Bytes>, to: To<'_>, line: String) -> String {
        let line = Bytes::from(line);
        match self.cluster.get() {
            Some(cluster) => match cluster.send(to, line) {
                Ok(_) => "OK".into(),
                Err(e) => format!("ERR {e}"),
            },
            None => {
                if let Some(t) = to.local(&self.name) {
                    registry.send_to_target(t, line);
                }
                "OK".into()
            }
        }
    }

    async fn who(&self, conn: &Conn<Bytes>, user: &str) -> String {
        let nodes = match self.cluster.get() {
            Some(cluster) => match cluster.nodes_of(user).await {
                Ok(nodes) => nodes,
                Err(e) => return format!("ERR {e}"),
            },
            None => {
                let here = conn.registry().is_some_and(|r| !r.user(user).is_empty());
                if here {
                    vec![self.name.clone()]
                } else {
                    vec![]
                }
            }
        };
        if nodes.is_empty() {
            format!("OFFLINE {user}")
        } else {
            format!("ONLINE {user} {}", nodes.join(" "))
        }
    }
}
