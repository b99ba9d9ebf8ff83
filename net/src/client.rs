//! The client: one connection at a time to one of several nodes, heartbeat, reconnect
//! with back-off and fail-over, on a supervisor task independent of any connection.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{Decoder, Encoder};

use crate::calls::{CallConfig, Exchanges};
use crate::conn::{Conn, Outbound, QueuePolicy, SendError};
use crate::server::{Listener, NoListener};
use crate::server::{MAX_UNWRITTEN, Outgoing, poll_once, pre_handle};
use crate::stats::Stats;
use crate::timer::LinkCheck;
use crate::timer::{Backoff, Heartbeat, HeartbeatAction};
use crate::{CloseReason, Codec, ConnId};
use packwire_core::Exchange;

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

type PingFn<M> = Arc<dyn Fn() -> M + Send + Sync>;

/// Messages sent while disconnected, kept (up to a bound) for the next connection.
struct Offline<M> {
    bound: usize,
    queue: std::collections::VecDeque<M>,
}

/// Entry point: [`Client::builder`].
#[derive(Debug)]
pub struct Client;

impl Client {
    /// A client whose connections each get a codec from `make_codec` and whose decoded
    /// messages go to `handler`.
    pub fn builder<C, F, H, Fut, M>(make_codec: F, handler: H) -> ClientBuilder<F, H, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        ClientBuilder {
            make_codec,
            handler,
            nodes: Vec::new(),
            heartbeat: None,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(5),
            queue: 1024,
            offline: 0,
            listener: Arc::new(NoListener),
            ex: Exchanges::default(),
        }
    }
}

/// Options for a client; [`ClientBuilder::start`] runs it.
pub struct ClientBuilder<F, H, M> {
    make_codec: F,
    handler: H,
    nodes: Vec<SocketAddr>,
    heartbeat: Option<(Duration, Duration, PingFn<M>)>,
    backoff: Backoff,
    connect_timeout: Duration,
    queue: usize,
    offline: usize,
    listener: Arc<dyn Listener<M>>,
    ex: Exchanges<M>,
}

impl<F, H, M> std::fmt::Debug for ClientBuilder<F, H, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("nodes", &self.nodes)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// A running client.
pub struct ClientHandle<M> {
    current: Arc<Mutex<Option<Conn<M>>>>,
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

impl<M: Send + 'static> ClientHandle<M> {
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
        let _ = self.task.await;
    }
}

impl<F, H, M, C, Fut> ClientBuilder<F, H, M>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    /// Adds a server; on failure the client moves on to the next one (fail-over).
    pub fn node(mut self, addr: SocketAddr) -> Self {
        self.nodes.push(addr);
        self
    }

    /// Sends `ping()` after the connection has been write-idle for `interval`, and treats
    /// a server silent for `timeout` as dead (closed with [`CloseReason::IdleTimeout`],
    /// then reconnected).
    pub fn heartbeat(
        mut self,
        interval: Duration,
        timeout: Duration,
        ping: impl Fn() -> M + Send + Sync + 'static,
    ) -> Self {
        self.heartbeat = Some((interval, timeout, Arc::new(ping)));
        self
    }

    /// The reconnect back-off. Default: 200 ms doubling to 30 s, 20% jitter, no cap.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Keeps up to `n` messages (at most the queue capacity) sent while disconnected and
    /// sends them, in order, on the next connection. Default 0: such sends fail fast with [`SendError::NotConnected`].
    pub fn queue_while_disconnected(mut self, n: usize) -> Self {
        self.offline = n;
        self
    }

    /// Matches responses to requests for [`Conn::call`] and answers the server's link
    /// checks, with `cfg`'s window, timeout and sends (see
    /// [`crate::ServerBuilder::calls`]).
    pub fn calls(mut self, cfg: CallConfig) -> Self
    where
        M: Exchange,
    {
        self.ex.set_calls(cfg);
        self
    }

    /// Sends the protocol's link-check request when the server has sent nothing for
    /// `interval`, and drops the connection (then reconnects) after `max_unanswered`
    /// checks in a row got nothing back (see [`crate::ServerBuilder::link_check`]).
    pub fn link_check(mut self, interval: Duration, max_unanswered: u32) -> Self
    where
        M: Exchange,
    {
        self.ex.set_link_check(interval, max_unanswered);
        self
    }

    /// Lifecycle hooks (the same [`Listener`] a server takes).
    pub fn listener(mut self, listener: impl Listener<M>) -> Self {
        self.listener = Arc::new(listener);
        self
    }

    /// How long one connection attempt may take. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Starts the supervisor task.
    pub fn start(self) -> ClientHandle<M> {
        let current = Arc::new(Mutex::new(None));
        let offline = Arc::new(Mutex::new(Offline {
            bound: self.offline.min(self.queue),
            queue: std::collections::VecDeque::new(),
        }));
        let (events_tx, events) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(
            self,
            current.clone(),
            offline.clone(),
            events_tx,
            shutdown_rx,
        ));
        ClientHandle {
            current,
            offline,
            events,
            shutdown,
            task,
        }
    }
}

async fn supervise<F, H, M, C, Fut>(
    mut cfg: ClientBuilder<F, H, M>,
    current: Arc<Mutex<Option<Conn<M>>>>,
    offline: Arc<Mutex<Offline<M>>>,
    events: mpsc::UnboundedSender<ClientEvent>,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    if cfg.nodes.is_empty() {
        let _ = events.send(ClientEvent::GaveUp);
        return;
    }
    let stats = Arc::new(Stats::default());
    let ids = AtomicU64::new(1);
    let mut node = 0;
    let mut connected_before = false;
    while !*shutdown.borrow() {
        let addr = cfg.nodes[node % cfg.nodes.len()];
        match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                cfg.backoff.reset();
                let _ = events.send(ClientEvent::Connected {
                    node: addr,
                    is_reconnect: connected_before,
                });
                let id = ConnId(ids.fetch_add(1, Ordering::Relaxed));
                let reconnect = connected_before_this(&mut connected_before);
                let reason = session(
                    stream,
                    (id, reconnect),
                    &cfg,
                    &current,
                    &offline,
                    &stats,
                    &mut shutdown,
                )
                .await;
                *current.lock().unwrap_or_else(PoisonError::into_inner) = None;
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
        let Some(delay) = cfg.backoff.next_delay() else {
            let _ = events.send(ClientEvent::GaveUp);
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = flipped(&mut shutdown) => break,
        }
    }
}

/// Whether an earlier connection existed; marks that one does now.
fn connected_before_this(flag: &mut bool) -> bool {
    std::mem::replace(flag, true)
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// One connection's life: read and decode, write what is queued, heartbeat.
async fn session<F, H, M, C, Fut>(
    stream: TcpStream,
    (id, is_reconnect): (ConnId, bool),
    cfg: &ClientBuilder<F, H, M>,
    current: &Mutex<Option<Conn<M>>>,
    offline: &Mutex<Offline<M>>,
    stats: &Arc<Stats>,
    shutdown: &mut watch::Receiver<bool>,
) -> CloseReason
where
    F: Fn() -> C,
    C: Decoder<Item: 'static> + Encoder<M>,
    <C as Decoder>::Error: Display,
    <C as Encoder<M>>::Error: Display,
    H: Fn(Conn<M>, C::Item) -> Fut,
    Fut: Future<Output = ()>,
    M: Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let local = stream.local_addr().unwrap_or(peer);
    let (mut rd, wr) = stream.into_split();
    let conn = Conn::new(
        id,
        peer,
        local,
        cfg.queue,
        stats.clone(),
        QueuePolicy::Fail,
        None,
        (cfg.ex.calls, cfg.ex.hooks),
    );
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
    cfg.listener.on_connected(&conn, is_reconnect);
    let mut codec = (cfg.make_codec)();
    let mut out = Outgoing::new(
        wr,
        (cfg.make_codec)(),
        conn.clone(),
        cfg.listener.clone(),
        stats.clone(),
    );
    let mut hb = cfg
        .heartbeat
        .as_ref()
        .map(|(i, t, _)| Heartbeat::new(*i, *t, now()));
    let mut link = cfg.ex.link.map(|(i, n)| LinkCheck::new(i, n, now()));
    let mut closed = conn.closed_rx();
    let closing = flipped(&mut closed);
    tokio::pin!(closing);
    let mut rbuf = BytesMut::with_capacity(8 * 1024);
    let reason = loop {
        out.fill();
        if conn.is_closed() {
            break conn.close_reason().unwrap_or(CloseReason::Kicked);
        }
        let deadline = hb.map(|h| tokio::time::Instant::from_std(h.deadline()));
        let link_at = link.map(|l| tokio::time::Instant::from_std(l.deadline()));
        // writes are a branch like the others: a server that stops reading blocks
        // neither the reads nor the heartbeat nor shutdown
        let wake = tokio::select! {
            biased;
            r = out.wr.write(&out.buf), if !out.buf.is_empty() => Wake::Wrote(r),
            r = rd.read_buf(&mut rbuf) => Wake::Read(r),
            () = out.conn.inner.queue.ready(), if out.buf.len() < MAX_UNWRITTEN => Wake::Queued,
            () = sleep_until(link_at) => Wake::Link,
            () = sleep_until(deadline) => Wake::Heartbeat,
            () = &mut closing => Wake::Closed,
            () = flipped(shutdown) => Wake::Shutdown,
        };
        let eof = match wake {
            Wake::Wrote(r) => {
                if let Err(reason) = out.wrote(r) {
                    break reason;
                }
                if let Some(h) = &mut hb {
                    h.on_write(now());
                }
                continue;
            }
            Wake::Queued => continue,
            Wake::Closed => break conn.close_reason().unwrap_or(CloseReason::Kicked),
            Wake::Shutdown => break CloseReason::Kicked,
            Wake::Link => match out.link_due(&mut link) {
                Some(reason) => break reason,
                None => continue,
            },
            Wake::Heartbeat => {
                let Some(h) = &mut hb else { continue };
                match h.poll(now()) {
                    HeartbeatAction::Dead => break CloseReason::IdleTimeout,
                    HeartbeatAction::Ping => {
                        if let Some((_, _, ping)) = cfg.heartbeat.as_ref() {
                            out.push(Outbound::Msg(ping()));
                        }
                        h.on_write(now());
                    }
                    HeartbeatAction::Wait => {}
                }
                continue;
            }
            Wake::Read(Ok(0)) => true,
            Wake::Read(Ok(_)) => false,
            Wake::Read(Err(_)) => break CloseReason::PeerClosed,
        };
        if let Some(h) = &mut hb {
            h.on_read(now());
        }
        if let Some(l) = &mut link {
            l.on_read(now());
        }
        let mut failed = None;
        loop {
            let before = rbuf.len();
            let r = if eof {
                codec.decode_eof(&mut rbuf)
            } else {
                codec.decode(&mut rbuf)
            };
            match r {
                Ok(Some(item)) => {
                    cfg.listener.on_message(&conn, before - rbuf.len());
                    let Some(item) = pre_handle(&conn, &*cfg.listener, item) else {
                        continue;
                    };
                    let fut = (cfg.handler)(conn.clone(), item);
                    tokio::pin!(fut);
                    if poll_once(fut.as_mut()).await.is_pending() {
                        if let Err(reason) = out.drive(fut).await {
                            failed = Some(reason);
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let e = e.to_string();
                    cfg.listener.on_decode_error(&conn, &e);
                    failed = Some(CloseReason::DecodeError(e));
                    break;
                }
            }
        }
        if let Some(f) = failed {
            break f;
        }
        if eof {
            break CloseReason::PeerClosed;
        }
    };
    conn.close(reason.clone());
    conn.inner.calls.close();
    cfg.listener.on_before_close(&conn, &reason);
    // what is still queued goes out if the server takes it soon
    out.flush_all(Some(Duration::from_secs(1))).await;
    cfg.listener.on_after_close(id, &reason);
    reason
}

/// What woke a client session.
enum Wake {
    Wrote(std::io::Result<usize>),
    Read(std::io::Result<usize>),
    Queued,
    Link,
    Heartbeat,
    Closed,
    Shutdown,
}

/// Resolves once the flag is true (without holding the watch's read guard).
async fn flipped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
