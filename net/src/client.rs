//! The client: one connection at a time to one of several nodes, heartbeat, reconnect
//! with back-off and fail-over, on a supervisor task independent of any connection.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{Decoder, Encoder};

use tracing::Instrument;

use crate::chores::Backoff;
use crate::config::{ConnConfig, conn_options};
use crate::conn::{Conn, EncodeFn, encoder_of};
use crate::driver::{Driver, Env};
use crate::listener::{Listener, NoListener};
use crate::registry::Registry;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;
use crate::{
    AsyncHandler, CloseReason, Codec, ConnId, Handler, QueuePolicy, Reply, SendError, SyncHandler,
};

/// What happened to a client's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Connected to `node`; `is_reconnect` after the first time.
    Connected {
        /// The server.
        node: SocketAddr,
        /// Whether an earlier connection existed.
        is_reconnect: bool,
    },
    /// The connection to `node` ended.
    Disconnected {
        /// The server.
        node: SocketAddr,
        /// Why (`IdleTimeout` when the heartbeat found the server silent).
        reason: CloseReason,
    },
    /// Connecting to `node` failed; the next node is tried after the back-off delay.
    ConnectFailed {
        /// The server.
        node: SocketAddr,
        /// The error.
        error: String,
    },
    /// The back-off's attempts are used up: the client stopped.
    GaveUp,
}

impl std::fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientEvent::Connected {
                node,
                is_reconnect: false,
            } => write!(f, "connected to {node}"),
            ClientEvent::Connected { node, .. } => write!(f, "reconnected to {node}"),
            ClientEvent::Disconnected { node, reason } => {
                write!(f, "disconnected from {node}: {}", reason.name())
            }
            ClientEvent::ConnectFailed { node, error } => {
                write!(f, "could not connect to {node}: {error}")
            }
            ClientEvent::GaveUp => f.write_str("gave up connecting"),
        }
    }
}

/// Messages sent while disconnected, kept (up to a bound) for the next connection.
struct Offline<M> {
    bound: usize,
    queue: std::collections::VecDeque<M>,
}

/// Entry point: [`Client::builder`] (async handlers), [`Client::builder_sync`] (plain
/// ones), [`Client::builder_with`] (a [`Handler`] type of your own).
///
/// ```no_run
/// use std::time::Duration;
/// use bytes::Bytes;
/// use packwire_codecs::LineCodec;
/// use packwire_net::{Backoff, Client, ClientEvent, Conn};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // prints what the server says; reconnects (to the next node on failure) by itself
/// let mut client = Client::builder_sync(LineCodec::new, |_: &Conn<Bytes>, line: Bytes| {
///     println!("{}", String::from_utf8_lossy(&line));
/// })
/// .node("127.0.0.1:7000".parse()?)
/// .node("127.0.0.1:7001".parse()?)
/// .backoff(Backoff::new(Duration::from_millis(200), Duration::from_secs(30)))
/// .start();
/// while let Some(event) = client.next_event().await {
///     if let ClientEvent::Connected { .. } = event {
///         client.send(Bytes::from_static(b"hello"))?;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client;

impl Client {
    /// A client whose connections each get a codec from `make_codec` and whose decoded
    /// messages go to the async `handler`; its future returns nothing or the answer
    /// ([`Reply`]).
    pub fn builder<C, F, H, Fut, M>(
        make_codec: F,
        handler: H,
    ) -> ClientBuilder<F, AsyncHandler<H>, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output: Reply<M>> + Send + 'static,
        M: Send + 'static,
    {
        Client::builder_with(make_codec, AsyncHandler(handler))
    }

    /// As [`builder`](Self::builder), with a plain handler that finishes on the
    /// connection's task and returns nothing or the answer (see [`Handler`]).
    pub fn builder_sync<C, F, H, R, M>(
        make_codec: F,
        handler: H,
    ) -> ClientBuilder<F, SyncHandler<H>, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Fn(&Conn<M>, C::Item) -> R + Send + Sync + 'static,
        R: Reply<M>,
        M: Send + 'static,
    {
        Client::builder_with(make_codec, SyncHandler(handler))
    }

    /// As [`builder`](Self::builder), with any [`Handler`].
    pub fn builder_with<C, F, H, M>(make_codec: F, handler: H) -> ClientBuilder<F, H, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Handler<M, C::Item>,
        M: Send + 'static,
    {
        ClientBuilder {
            make_codec,
            handler,
            listener: Arc::new(NoListener),
            conn: ConnConfig::new(QueuePolicy::Fail),
            client: ClientConfig {
                nodes: Vec::new(),
                backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
                connect_timeout: Duration::from_secs(5),
                offline: 0,
                #[cfg(feature = "tls")]
                tls: None,
            },
        }
    }
}

/// What a client connects to and how it reconnects, as plain data.
#[derive(Debug, Clone)]
struct ClientConfig {
    nodes: Vec<SocketAddr>,
    backoff: Backoff,
    connect_timeout: Duration,
    offline: usize,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
}

/// What a client's connection runs over.
#[cfg(feature = "tls")]
type ClientStream = crate::tls::ClientStream;
#[cfg(not(feature = "tls"))]
type ClientStream = TcpStream;

/// Connects to `addr` (and runs the TLS handshake, when configured).
async fn open(cc: &ClientConfig, addr: SocketAddr) -> std::io::Result<ClientStream> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "tls")]
    {
        Ok(match &cc.tls {
            Some(tls) => {
                let (s, info) = tls.connect(stream, addr).await?;
                tracing::debug!(?info.version, ?info.suite, "TLS connected");
                crate::tls::ClientStream::Tls(Box::new(s))
            }
            None => crate::tls::ClientStream::Tcp(stream),
        })
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = cc;
        Ok(stream)
    }
}

/// Options for a client; [`ClientBuilder::start`] runs it.
///
/// ```no_run
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use packwire_codecs::LengthFieldCodec;
/// use packwire_net::{Backoff, Client, Conn};
///
/// # fn run() {
/// let client = Client::builder(LengthFieldCodec::new, |_: Conn<Bytes>, frame: Bytes| async move {
///     println!("got {frame:?}");
/// })
/// .node("10.0.0.1:7000".parse().unwrap()) // tried in turn: fail-over
/// .node("10.0.0.2:7000".parse().unwrap())
/// .backoff(Backoff::new(Duration::from_millis(200), Duration::from_secs(30)))
/// .heartbeat(Duration::from_secs(20), Duration::from_secs(60), || Bytes::from_static(b"ping"))
/// .queue_while_disconnected(100)
/// .start();
/// # }
/// ```
pub struct ClientBuilder<F, H, M> {
    make_codec: F,
    handler: H,
    listener: Arc<dyn Listener<M>>,
    conn: ConnConfig<M>,
    client: ClientConfig,
}

impl<F, H, M> std::fmt::Debug for ClientBuilder<F, H, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("conn", &self.conn)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A running client.
///
/// ```no_run
/// # use bytes::Bytes;
/// # use packwire_net::{ClientEvent, ClientHandle};
/// # async fn run(mut client: ClientHandle<Bytes>) {
/// while let Some(event) = client.next_event().await {
///     println!("{event}"); // connected to ..., could not connect to ...: ...
///     if let ClientEvent::Connected { .. } = event {
///         let _ = client.send(Bytes::from_static(b"hello"));
///         break;
///     }
/// }
/// println!("{}", client.stats());
/// client.shutdown().await;
/// # }
/// ```
pub struct ClientHandle<M> {
    current: Arc<Mutex<Option<Conn<M>>>>,
    stats: Arc<Stats>,
    offline: Arc<Mutex<Offline<M>>>,
    events: mpsc::UnboundedReceiver<ClientEvent>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl<M> std::fmt::Debug for ClientHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle").finish_non_exhaustive()
    }
}

impl<M> ClientHandle<M> {
    /// The live counters, for exporters that read them on their own schedule.
    #[cfg(feature = "metrics")]
    pub(crate) fn stats_arc(&self) -> Arc<Stats> {
        self.stats.clone()
    }
}

impl<M: Send + 'static> ClientHandle<M> {
    /// The statistics of all its connections so far (`accepted` counts connections made).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The current connection, if connected.
    pub fn conn(&self) -> Option<Conn<M>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Queues a message on the current connection. Between connections it fails fast, or,
    /// with [`ClientBuilder::queue_while_disconnected`], keeps the message for the next
    /// connection.
    ///
    /// # Errors
    /// [`SendError::NotConnected`] between connections (no offline queue),
    /// [`SendError::Full`] when the queue (or the offline queue) is full.
    pub fn send(&self, msg: M) -> Result<(), SendError> {
        // the offline lock is held while looking at the connection, so a message cannot
        // slip into the offline queue after the new connection has drained it
        let mut off = self.offline.lock().unwrap_or_else(PoisonError::into_inner);
        match self.conn() {
            Some(c) => c.try_send(msg),
            None if off.queue.len() < off.bound => {
                off.queue.push_back(msg);
                Ok(())
            }
            None if off.bound > 0 => Err(SendError::Full),
            None => Err(SendError::NotConnected),
        }
    }

    /// The next event (`None` once the client has stopped and all were read).
    ///
    /// # Cancel safety
    /// Cancel-safe: no event is lost if the future is dropped.
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        self.events.recv().await
    }

    /// Closes the connection and stops reconnecting.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        if let Some(c) = self.conn() {
            c.close(CloseReason::Kicked);
        }
        let _ = self.task.await;
    }
}

impl<F, H, M, C> ClientBuilder<F, H, M>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Handler<M, C::Item>,
    M: Send + 'static,
{
    conn_options!();

    /// Adds a server; on failure the client moves on to the next one (fail-over).
    pub fn node(mut self, addr: SocketAddr) -> Self {
        self.client.nodes.push(addr);
        self
    }

    /// The reconnect back-off. Default: 200 ms doubling to 30 s, 20% jitter (seeded per
    /// client), no cap.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.client.backoff = backoff;
        self
    }

    /// Keeps up to `n` messages (at most the queue capacity) sent while disconnected and
    /// sends them, in order, on the next connection. Default 0: such sends fail fast with
    /// [`SendError::NotConnected`].
    pub fn queue_while_disconnected(mut self, n: usize) -> Self {
        self.client.offline = n;
        self
    }

    /// How long one connection attempt may take (the TLS handshake included). Default
    /// 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.client.connect_timeout = timeout;
        self
    }

    /// Connects over TLS: every connection (and reconnection, to any node) runs the
    /// handshake first; a refused certificate is a failed connect
    /// ([`ClientEvent::ConnectFailed`] with the reason) and the next node is tried.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, connector: crate::tls::TlsConnector) -> Self {
        self.client.tls = Some(connector);
        self
    }

    /// Starts the supervisor task.
    pub fn start(self) -> ClientHandle<M> {
        let current = Arc::new(Mutex::new(None));
        let offline = Arc::new(Mutex::new(Offline {
            bound: self.client.offline.min(self.conn.queue_capacity),
            queue: std::collections::VecDeque::new(),
        }));
        let (events_tx, events) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(supervise(
            self,
            current.clone(),
            offline.clone(),
            stats.clone(),
            events_tx,
            shutdown_rx,
        ));
        ClientHandle {
            current,
            stats,
            offline,
            events,
            shutdown,
            task,
        }
    }
}

async fn supervise<F, H, M, C>(
    cfg: ClientBuilder<F, H, M>,
    current: Arc<Mutex<Option<Conn<M>>>>,
    offline: Arc<Mutex<Offline<M>>>,
    stats: Arc<Stats>,
    events: mpsc::UnboundedSender<ClientEvent>,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Handler<M, C::Item>,
    M: Send + 'static,
{
    let ClientBuilder {
        make_codec,
        handler,
        listener,
        conn: conn_cfg,
        client: mut cc,
    } = cfg;
    if cc.nodes.is_empty() {
        let _ = events.send(ClientEvent::GaveUp);
        return;
    }
    let encoder = Arc::new(make_codec);
    let make = encoder.clone();
    let encode: EncodeFn<M> = encoder_of(encoder);
    let registry = Registry::new(encode.clone());
    let registry_any: Arc<dyn Any + Send + Sync> = Arc::new(registry.clone());
    let env = Env {
        handler,
        listener,
        stats,
        cfg: conn_cfg,
    };
    let settings = env.cfg.settings(&registry_any, None, &env.stats);
    let ids = AtomicU64::new(1);
    let mut node = 0;
    let mut connected_before = false;
    while !*shutdown.borrow() {
        let addr = cc.nodes[node % cc.nodes.len()];
        match tokio::time::timeout(cc.connect_timeout, open(&cc, addr)).await {
            Ok(Ok(stream)) => {
                cc.backoff.reset();
                let id = ConnId(ids.fetch_add(1, Ordering::Relaxed));
                let is_reconnect = std::mem::replace(&mut connected_before, true);
                let peer = Transport::peer_addr(&stream).unwrap_or(addr);
                let local = Transport::local_addr(&stream).unwrap_or(peer);
                let conn = Conn::new(id, (peer, local), settings.clone());
                {
                    // hand over what was sent while disconnected, then publish the connection
                    let mut off = offline.lock().unwrap_or_else(PoisonError::into_inner);
                    while let Some(m) = off.queue.pop_front() {
                        if conn.try_send(m).is_err() {
                            break; // more than the connection's queue holds: the rest is dropped
                        }
                    }
                    *current.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
                }
                if *shutdown.borrow() {
                    conn.close(CloseReason::Kicked);
                }
                env.stats.accepted();
                registry.add(conn.clone());
                // announced once published: whoever hears `Connected` can send right away
                let _ = events.send(ClientEvent::Connected {
                    node: addr,
                    is_reconnect,
                });
                env.listener.on_connected(&conn, is_reconnect);
                let span = crate::driver::span::<M, C>(&conn, "client");
                let make: &F = &make;
                let driver = Driver::new(stream, &make, conn, &env.cfg, None);
                let run = driver.run(&env, || {
                    registry.remove(id);
                    *current.lock().unwrap_or_else(PoisonError::into_inner) = None;
                });
                // a span nobody records would cost its enter and exit on every wake
                let reason = if span.is_disabled() {
                    run.await
                } else {
                    run.instrument(span).await
                };
                env.listener.on_after_close(id, &reason);
                let _ = events.send(ClientEvent::Disconnected { node: addr, reason });
            }
            Ok(Err(e)) => {
                let _ = events.send(ClientEvent::ConnectFailed {
                    node: addr,
                    error: e.to_string(),
                });
                node += 1;
            }
            Err(_) => {
                let _ = events.send(ClientEvent::ConnectFailed {
                    node: addr,
                    error: "connect timed out".into(),
                });
                node += 1;
            }
        }
        if *shutdown.borrow() {
            break;
        }
        let Some(delay) = cc.backoff.next_delay() else {
            let _ = events.send(ClientEvent::GaveUp);
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|v| *v) => break,
        }
    }
}
