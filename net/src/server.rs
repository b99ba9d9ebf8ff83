//! The server: accept, one task per connection that reads, handles and writes, graceful shutdown.

use std::collections::{HashMap, VecDeque};
use std::fmt::Display;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, Encoder};

use crate::calls::{CallConfig, Exchanges, Routed};
use crate::conn::{Conn, Outbound, QueuePolicy};
use crate::registry::{EncodeFn, Registry};
use crate::stats::{Stats, StatsSnapshot};
use crate::timer::{IdleTimer, LinkAction, LinkCheck};
use crate::window::{IpStats, IpWindows, Ring};
use crate::{CloseReason, Codec, ConnId};
use packwire_core::Exchange;

/// Lifecycle hooks, all with no-op defaults, for servers and clients alike. Called from
/// the connection's tasks: keep them quick.
pub trait Listener<M>: Send + Sync + 'static {
    /// A connection was accepted (server) or established (client; `is_reconnect` after the
    /// first time).
    fn on_connected(&self, _conn: &Conn<M>, _is_reconnect: bool) {}
    /// A message of `bytes` wire bytes was decoded (before the handler sees it).
    fn on_message(&self, _conn: &Conn<M>, _bytes: usize) {}
    /// `messages` messages (`bytes` bytes) were written to the socket in one write.
    fn on_sent(&self, _conn: &Conn<M>, _messages: usize, _bytes: usize) {}
    /// The peer sent a malformed frame; the connection is closing.
    fn on_decode_error(&self, _conn: &Conn<M>, _error: &str) {}
    /// The connection is about to close (queued messages are still being written).
    fn on_before_close(&self, _conn: &Conn<M>, _reason: &CloseReason) {}
    /// The connection is closed and gone from the registry.
    fn on_after_close(&self, _id: ConnId, _reason: &CloseReason) {}
    /// A response arrived that no call waits for (late, after its call timed out or was
    /// dropped, or the peer's mistake); it goes on to the handler.
    fn on_unmatched_response(&self, _conn: &Conn<M>, _sequence: u32) {}
}

/// A listener that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoListener;

impl<M> Listener<M> for NoListener {}

/// Addresses whose connections are closed on accept, before a byte is read: exact
/// addresses or CIDR ranges, each forever or until an expiry. A cheap handle: clones share
/// the list, so it can be changed while the server runs.
///
/// ```
/// use std::time::Duration;
/// use packwire_net::BlockList;
///
/// let list = BlockList::default();
/// list.block_cidr("10.0.0.0/8").unwrap();
/// list.block_for("192.0.2.7".parse().unwrap(), Duration::from_secs(60));
/// assert!(list.is_blocked("10.1.2.3".parse().unwrap()));
/// assert!(list.is_blocked("192.0.2.7".parse().unwrap()));
/// assert!(!list.is_blocked("192.0.2.8".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    rules: Arc<std::sync::Mutex<Vec<Rule>>>,
}

/// A network, its prefix length, and when the rule expires.
type Rule = (IpAddr, u8, Option<tokio::time::Instant>);

fn prefix_matches(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

impl BlockList {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Blocks one address for good.
    pub fn block(&self, ip: IpAddr) {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        self.rules().push((ip, bits, None));
    }

    /// Blocks one address for `duration`.
    pub fn block_for(&self, ip: IpAddr, duration: Duration) {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        self.rules()
            .push((ip, bits, Some(tokio::time::Instant::now() + duration)));
    }

    /// Blocks a CIDR range such as `10.0.0.0/8` or `2001:db8::/32`.
    ///
    /// # Errors
    /// When `cidr` is not an address, a slash and a prefix length that fits it.
    pub fn block_cidr(&self, cidr: &str) -> Result<(), String> {
        let (addr, bits) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr:?} is not address/prefix"))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let bits: u8 = bits
            .parse()
            .map_err(|_| format!("{bits:?} is not a prefix length"))?;
        if bits > if ip.is_ipv4() { 32 } else { 128 } {
            return Err(format!("/{bits} is too long for {ip}"));
        }
        self.rules().push((ip, bits, None));
        Ok(())
    }

    /// Removes every rule for exactly this address.
    pub fn unblock(&self, ip: IpAddr) {
        self.rules().retain(|(n, _, _)| *n != ip);
    }

    /// Whether `ip` is blocked now (expired rules are dropped on the way).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = tokio::time::Instant::now();
        let mut rules = self.rules();
        rules.retain(|(_, _, exp)| exp.is_none_or(|e| e > now));
        rules.iter().any(|(n, p, _)| prefix_matches(*n, *p, ip))
    }
}

/// Entry point: [`Server::builder`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A server whose connections each get a codec from `make_codec` and whose decoded
    /// messages go to `handler` (one connection's messages in order; a slow handler
    /// holds up only its own connection).
    pub fn builder<C, F, H, Fut, M>(make_codec: F, handler: H) -> ServerBuilder<F, H, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        ServerBuilder {
            make_codec,
            handler,
            listener: Arc::new(NoListener),
            idle: None,
            queue: 1024,
            max_connections: 10_000,
            max_per_ip: usize::MAX,
            max_buffered: 16 * 1024 * 1024,
            policy: QueuePolicy::Wait,
            blocked: BlockList::default(),
            auth: None,
            max_queued_bytes: None,
            ex: Exchanges::default(),
            close_grace: Duration::from_secs(2),
        }
    }
}

/// Options for a server; [`ServerBuilder::bind`] starts it.
pub struct ServerBuilder<F, H, M> {
    make_codec: F,
    handler: H,
    listener: Arc<dyn Listener<M>>,
    idle: Option<Duration>,
    queue: usize,
    max_connections: usize,
    max_per_ip: usize,
    max_buffered: usize,
    policy: QueuePolicy,
    blocked: BlockList,
    auth: Option<Duration>,
    max_queued_bytes: Option<usize>,
    ex: Exchanges<M>,
    close_grace: Duration,
}

impl<F, H, M> std::fmt::Debug for ServerBuilder<F, H, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("idle", &self.idle)
            .field("queue", &self.queue)
            .field("max_connections", &self.max_connections)
            .field("max_buffered", &self.max_buffered)
            .finish_non_exhaustive()
    }
}

impl<F, H, M> Shared<F, H, M> {
    /// Counts a connection from `ip` if the per-IP limit allows it.
    fn admit_ip(&self, ip: IpAddr) -> bool {
        let mut m = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    fn release_ip(&self, ip: IpAddr) {
        let mut m = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

struct Shared<F, H, M> {
    make_codec: F,
    handler: H,
    listener: Arc<dyn Listener<M>>,
    registry: Registry<M>,
    stats: Arc<Stats>,
    idle: Option<Duration>,
    queue: usize,
    max_connections: usize,
    max_per_ip: usize,
    max_buffered: usize,
    policy: QueuePolicy,
    blocked: BlockList,
    auth: Option<Duration>,
    max_queued_bytes: Option<usize>,
    ex: Exchanges<M>,
    close_grace: Duration,
    per_ip: std::sync::Mutex<HashMap<IpAddr, usize>>,
    windows: Arc<IpWindows>,
    next_id: AtomicU64,
}

/// A running server.
pub struct ServerHandle<M> {
    local_addr: SocketAddr,
    blocked: BlockList,
    windows: Arc<IpWindows>,
    registry: Registry<M>,
    stats: Arc<Stats>,
    shutdown: watch::Sender<Option<Duration>>,
    done: tokio::task::JoinHandle<()>,
}

impl<M> std::fmt::Debug for ServerHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl<M: Send + 'static> ServerHandle<M> {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The connection registry.
    pub fn registry(&self) -> &Registry<M> {
        &self.registry
    }

    /// What one IP address did over the last 60 seconds (connections, messages, bytes).
    pub fn ip_stats(&self, ip: IpAddr) -> IpStats {
        self.windows.get(ip, now())
    }

    /// The block list, to change while the server runs.
    pub fn block_list(&self) -> &BlockList {
        &self.blocked
    }

    /// The statistics now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting, closes every connection with [`CloseReason::ServerShutdown`]
    /// after writing what is queued for it, and resolves when all are closed; connections
    /// still open after `deadline` are dropped.
    pub async fn shutdown(self, deadline: Duration) {
        self.shutdown.send_replace(Some(deadline));
        let _ = self.done.await;
    }
}

impl<F, H, M, C, Fut> ServerBuilder<F, H, M>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    /// Closes connections that send nothing for `timeout`. Default: none.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle = Some(timeout);
        self
    }

    /// How many messages may wait in each connection's outbound queue. Default 1024.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue = n.max(1);
        self
    }

    /// The most open connections; more are closed on accept. Default 10 000.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// The most connections from one IP address; more are closed on accept. Default: no
    /// limit.
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.max_per_ip = n;
        self
    }

    /// What `Conn::send` does when a connection's queue is full. Default
    /// [`QueuePolicy::Wait`].
    pub fn queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Also bounds each connection's queue in encoded bytes (the queue policy applies when
    /// a message would pass it). Messages are then encoded when they are sent, to be
    /// measured. Default: bounded in messages only.
    pub fn max_queued_bytes(mut self, n: usize) -> Self {
        self.max_queued_bytes = Some(n);
        self
    }

    /// The block list checked on accept (share it to change it later).
    pub fn block_list(mut self, list: BlockList) -> Self {
        self.blocked = list;
        self
    }

    /// Requires every connection to be authenticated by the handler
    /// ([`Conn::authenticate`]) while it handles the connection's first message, which must
    /// arrive within `deadline`. A connection that sends nothing in time, or whose first
    /// message does not authenticate it, is closed with [`CloseReason::AuthTimeout`]; no
    /// other message reaches the handler before authentication.
    pub fn auth_gate(mut self, deadline: Duration) -> Self {
        self.auth = Some(deadline);
        self
    }

    /// The most unread bytes a connection may buffer, whatever its codec does. Default
    /// 16 MiB.
    pub fn max_buffered(mut self, n: usize) -> Self {
        self.max_buffered = n;
        self
    }

    /// Matches responses to requests for [`Conn::call`] and answers the peer's link
    /// checks from the first message on, with `cfg`'s window, timeout and sends
    /// (default: CMPP's 16, 60 s, 3). Without it, the first `call` on a connection turns
    /// the matching on, with the default configuration.
    pub fn calls(mut self, cfg: CallConfig) -> Self
    where
        M: Exchange,
    {
        self.ex.set_calls(cfg);
        self
    }

    /// Sends the protocol's link-check request ([`Exchange::link_check`]) when a
    /// connection has sent nothing for `interval`, and closes it with
    /// [`CloseReason::IdleTimeout`] after `max_unanswered` checks in a row got nothing
    /// back ([`crate::LinkCheck`]). The peer's own link checks are answered whether or not
    /// this is set, once response matching is on ([`ServerBuilder::calls`]).
    pub fn link_check(mut self, interval: Duration, max_unanswered: u32) -> Self
    where
        M: Exchange,
    {
        self.ex.set_link_check(interval, max_unanswered);
        self
    }

    /// How long a closing connection may take to write what is still queued for it
    /// before the socket is dropped anyway (a peer that reads nothing would otherwise
    /// keep it open). Default 2 s. A server shutdown uses its own deadline instead.
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Lifecycle hooks.
    pub fn listener(mut self, listener: impl Listener<M>) -> Self {
        self.listener = Arc::new(listener);
        self
    }

    /// Binds and starts accepting.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<ServerHandle<M>> {
        let tcp = TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        let make = Arc::new(self.make_codec);
        let encoder = make.clone();
        let encode: EncodeFn<M> = Arc::new(move |msg| {
            let mut buf = BytesMut::new();
            encoder().encode(msg, &mut buf).map_err(|e| e.to_string())?;
            Ok(buf.freeze())
        });
        let stats = Arc::new(Stats::default());
        let windows = Arc::new(IpWindows::new(Duration::from_secs(60)));
        let registry = Registry::new(encode);
        let shared = Arc::new(Shared {
            make_codec: make,
            handler: self.handler,
            listener: self.listener,
            registry: registry.clone(),
            stats: stats.clone(),
            idle: self.idle,
            queue: self.queue,
            max_connections: self.max_connections,
            max_per_ip: self.max_per_ip,
            max_buffered: self.max_buffered,
            policy: self.policy,
            blocked: self.blocked.clone(),
            auth: self.auth,
            max_queued_bytes: self.max_queued_bytes,
            ex: self.ex,
            close_grace: self.close_grace,
            per_ip: std::sync::Mutex::new(HashMap::new()),
            windows: windows.clone(),
            next_id: AtomicU64::new(1),
        });
        let (shutdown, rx) = watch::channel(None);
        let done = tokio::spawn(accept_loop(tcp, shared, rx));
        Ok(ServerHandle {
            local_addr,
            blocked: self.blocked,
            windows,
            registry,
            stats,
            shutdown,
            done,
        })
    }
}

async fn accept_loop<F, H, M, C, Fut>(
    tcp: TcpListener,
    shared: Arc<Shared<Arc<F>, H, M>>,
    mut shutdown: watch::Receiver<Option<Duration>>,
) where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    let mut conns = JoinSet::new();
    let deadline = loop {
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {

                    let refused = if shared.blocked.is_blocked(peer.ip()) {
                        Some(CloseReason::BlockedIp)
                    } else if shared.registry.len() >= shared.max_connections || !shared.admit_ip(peer.ip()) {
                        Some(CloseReason::LimitExceeded)
                    } else {
                        None
                    };
                    if let Some(reason) = refused {
                        shared.windows.add(peer.ip(), now(), 1, 0, 0);
                        shared.stats.accepted();
                        shared.stats.closed(&reason);
                        tracing::debug!(%peer, %reason, "refused");
                        drop(stream);
                        continue;
                    }
                    conns.spawn(serve(stream, peer, shared.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = shutdown.changed() => {
                let d = *shutdown.borrow();
                match (changed, d) {
                    (Ok(()), Some(d)) => break d,
                    (Err(_), _) => break Duration::ZERO,
                    _ => {}
                }
            }
        }
    };
    drop(tcp);
    for c in shared.registry.all() {
        c.close(CloseReason::ServerShutdown);
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, drain).await.is_err() {
        conns.abort_all();
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn serve<F, H, M, C, Fut>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<Arc<F>, H, M>>,
) where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    let local = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let byte_limit = shared
        .max_queued_bytes
        .map(|n| (n, shared.registry.encoder()));
    let conn = Conn::new(
        id,
        peer,
        local,
        shared.queue,
        shared.stats.clone(),
        shared.policy,
        byte_limit,
        (shared.ex.calls, shared.ex.hooks),
    );
    shared.stats.accepted();
    shared.registry.add(conn.clone());
    shared.listener.on_connected(&conn, false);
    tracing::debug!(%id, %peer, "connected");
    let mut out = Outgoing::new(
        wr,
        (shared.make_codec)(),
        conn.clone(),
        shared.listener.clone(),
        shared.stats.clone(),
    );
    let ring = shared.windows.ring(peer.ip(), now());
    shared.windows.add_to(&ring, now(), 1, 0, 0);
    let reason = run(rd, (shared.make_codec)(), &mut out, &conn, &shared, &ring).await;
    conn.close(reason);
    let reason = conn.close_reason().unwrap_or(CloseReason::PeerClosed);
    shared.listener.on_before_close(&conn, &reason);
    shared.registry.remove(id);
    conn.inner.calls.close();
    // a server shutdown has its own deadline; any other close gets the grace period
    let grace = (reason != CloseReason::ServerShutdown).then_some(shared.close_grace);
    out.flush_all(grace).await;
    shared.stats.closed(&reason);
    shared.release_ip(peer.ip());
    tracing::debug!(%id, %reason, "closed");
    shared.listener.on_after_close(id, &reason);
}

/// Encoded bytes stop being taken from the queue above this much unwritten output.
pub(crate) const MAX_UNWRITTEN: usize = 64 * 1024;

/// A connection's write side, driven by the connection's one task: messages move from the
/// queue into one buffer (so whatever is queued goes out in one write), and the buffer
/// goes to the socket whenever it accepts bytes — while reading, and while a handler is
/// still running.
pub(crate) struct Outgoing<M, C> {
    pub(crate) wr: OwnedWriteHalf,
    codec: C,
    /// taken from the queue, not yet encoded
    pending: VecDeque<Outbound<M>>,
    pub(crate) buf: BytesMut,
    /// messages encoded since the last time the buffer was empty
    msgs: usize,
    /// bytes written since the last time the buffer was empty
    bytes: usize,
    pub(crate) conn: Conn<M>,
    listener: Arc<dyn Listener<M>>,
    stats: Arc<Stats>,
}

/// What woke the connection's task.
enum Wake {
    Closing,
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
    Queued,
    Idle,
    AuthTimeout,
    Link,
}

impl<M, C> Outgoing<M, C>
where
    C: Encoder<M>,
    <C as Encoder<M>>::Error: Display,
    M: Send + 'static,
{
    pub(crate) fn new(
        wr: OwnedWriteHalf,
        codec: C,
        conn: Conn<M>,
        listener: Arc<dyn Listener<M>>,
        stats: Arc<Stats>,
    ) -> Self {
        Outgoing {
            wr,
            codec,
            pending: VecDeque::new(),
            buf: BytesMut::with_capacity(8 * 1024),
            msgs: 0,
            bytes: 0,
            conn,
            listener,
            stats,
        }
    }

    pub(crate) fn push(&mut self, out: Outbound<M>) {
        match out {
            Outbound::Msg(m) => {
                if let Err(e) = self.codec.encode(m, &mut self.buf) {
                    tracing::warn!(id = %self.conn.id(), error = %e, "a message could not be encoded; dropped");
                    return;
                }
            }
            Outbound::Raw(b) => {
                self.buf.extend_from_slice(&b);
                if self.conn.inner.byte_limit.is_some() {
                    self.conn
                        .inner
                        .queued_bytes
                        .fetch_sub(b.len(), std::sync::atomic::Ordering::AcqRel);
                    self.conn.inner.drained.notify_waiters();
                }
            }
        }
        self.msgs += 1;
    }

    /// Encodes what is queued into the buffer, up to [`MAX_UNWRITTEN`].
    pub(crate) fn fill(&mut self) {
        while self.buf.len() < MAX_UNWRITTEN {
            if self.pending.is_empty() && self.conn.inner.queue.take_all(&mut self.pending) == 0 {
                return;
            }
            while self.buf.len() < MAX_UNWRITTEN {
                let Some(out) = self.pending.pop_front() else {
                    break;
                };
                self.push(out);
            }
        }
    }

    /// Accounts for a write of the buffer's front; `Err` closes the connection. (A plain
    /// `write` of the one contiguous buffer: tokio's `write_buf` would go through `writev`
    /// with one iovec, a longer path in the kernel than `send`.)
    pub(crate) fn wrote(&mut self, r: io::Result<usize>) -> Result<(), CloseReason> {
        match r {
            Ok(0) => Err(CloseReason::WriteError(
                "the socket accepted no bytes".into(),
            )),
            Ok(n) => {
                self.buf.advance(n);
                self.bytes += n;
                if self.buf.is_empty() {
                    self.stats.sent(self.msgs, self.bytes);
                    self.listener.on_sent(&self.conn, self.msgs, self.bytes);
                    (self.msgs, self.bytes) = (0, 0);
                }
                Ok(())
            }
            Err(e) => Err(CloseReason::WriteError(e.to_string())),
        }
    }

    /// Runs a handler's future to completion while writing what is queued, so a handler
    /// that waits for room in its own connection's queue gets it.
    ///
    /// The caller pins the future where it was made and polls it once first (most handlers
    /// finish on that poll: no select, and no move of the future into this one's state).
    pub(crate) async fn drive<F: Future<Output = ()>>(
        &mut self,
        mut fut: std::pin::Pin<&mut F>,
    ) -> Result<(), CloseReason> {
        loop {
            let wake = tokio::select! {
                biased;
                () = &mut fut => return Ok(()),
                r = self.wr.write(&self.buf), if !self.buf.is_empty() => Wake::Wrote(r),
                () = self.conn.inner.queue.ready(), if self.buf.len() < MAX_UNWRITTEN => Wake::Queued,
            };
            match wake {
                Wake::Wrote(r) => self.wrote(r)?,
                _ => self.fill(),
            }
        }
    }

    /// A link-check timer fired: queues the protocol's check, or says the link is dead.
    pub(crate) fn link_due(&mut self, link: &mut Option<LinkCheck>) -> Option<CloseReason> {
        match link.as_mut().map(|l| l.poll(now())) {
            Some(LinkAction::Dead) => Some(CloseReason::IdleTimeout),
            Some(LinkAction::Check) => {
                if let Some(m) = self.conn.inner.calls.link_check() {
                    self.push(Outbound::Msg(m));
                }
                None
            }
            _ => None,
        }
    }

    /// Writes everything still queued (the connection is closing), for at most `grace`
    /// (a peer that reads nothing would otherwise hold the connection open forever), then
    /// shuts the write side down.
    pub(crate) async fn flush_all(&mut self, grace: Option<Duration>) {
        self.conn.inner.queue.close();
        let flush = async {
            loop {
                self.fill();
                if self.buf.is_empty() {
                    break;
                }
                let r = self.wr.write(&self.buf).await;
                if self.wrote(r).is_err() {
                    break;
                }
            }
        };
        let flushed = match grace {
            Some(g) => tokio::time::timeout(g, flush).await.is_ok(),
            None => {
                flush.await;
                true
            }
        };
        if flushed {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wr.shutdown()).await;
        }
    }
}

/// The connection's task until it must close: reads, decodes, hands each message to the
/// handler, and writes queued output whenever the socket takes it.
async fn run<F, H, M, C, Fut>(
    mut rd: OwnedReadHalf,
    mut codec: C,
    out: &mut Outgoing<M, C>,
    conn: &Conn<M>,
    shared: &Shared<Arc<F>, H, M>,
    ring: &Ring,
) -> CloseReason
where
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut,
    Fut: Future<Output = ()>,
    M: Send + 'static,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut idle = shared.idle.map(|d| IdleTimer::new(d, now()));
    let auth_deadline = shared.auth.map(|d| tokio::time::Instant::now() + d);
    let mut link = shared.ex.link.map(|(i, n)| LinkCheck::new(i, n, now()));
    let mut closed = conn.closed_rx();
    // one future for the whole loop: registering with the watch once, not per read
    let closing = flipped(&mut closed);
    tokio::pin!(closing);
    loop {
        if buf.len() >= shared.max_buffered {
            return CloseReason::LimitExceeded;
        }
        out.fill();
        let deadline = idle.map(|i| tokio::time::Instant::from_std(i.deadline()));
        let auth = auth_deadline.filter(|_| !conn.is_authenticated());
        let link_at = link.map(|l| tokio::time::Instant::from_std(l.deadline()));
        if conn.is_closed() {
            // a busy connection may never leave the branches below: the flag says it
            return conn.close_reason().unwrap_or(CloseReason::Kicked);
        }
        let wake = tokio::select! {
            biased;
            r = out.wr.write(&out.buf), if !out.buf.is_empty() => Wake::Wrote(r),
            r = rd.read_buf(&mut buf) => Wake::Read(r),
            () = out.conn.inner.queue.ready(), if out.buf.len() < MAX_UNWRITTEN => Wake::Queued,
            () = &mut closing => Wake::Closing,
            () = sleep_until(deadline) => Wake::Idle,
            () = sleep_until(auth) => Wake::AuthTimeout,
            () = sleep_until(link_at) => Wake::Link,
        };
        let eof = match wake {
            Wake::Closing => return conn.close_reason().unwrap_or(CloseReason::Kicked),
            Wake::Idle => return CloseReason::IdleTimeout,
            Wake::AuthTimeout => return CloseReason::AuthTimeout,
            Wake::Link => match out.link_due(&mut link) {
                Some(reason) => return reason,
                None => continue,
            },
            Wake::Wrote(r) => match out.wrote(r) {
                Ok(()) => continue,
                Err(reason) => return reason,
            },
            Wake::Queued => continue,
            Wake::Read(Ok(0)) => true,
            Wake::Read(Ok(_)) => false,
            Wake::Read(Err(_)) => return CloseReason::PeerClosed,
        };
        if let Some(i) = &mut idle {
            i.on_read(now());
        }
        if let Some(l) = &mut link {
            l.on_read(now());
        }
        // this task runs the handlers: their sends need not wake it
        out.conn.inner.queue.unpark();
        let (mut batch_msgs, mut batch_bytes) = (0u64, 0u64);
        let r = decode_all(
            &mut codec,
            &mut buf,
            eof,
            conn,
            shared,
            out,
            &mut batch_msgs,
            &mut batch_bytes,
        )
        .await;
        if batch_msgs > 0 {
            shared.stats.received(batch_msgs, batch_bytes);
            shared
                .windows
                .add_to(ring, now(), 0, batch_msgs, batch_bytes);
        }
        if let Some(reason) = r {
            return reason;
        }
        if eof {
            return CloseReason::PeerClosed;
        }
    }
}

/// Decodes and handles every whole message in the buffer; `Some(reason)` when the
/// connection must close.
#[allow(clippy::too_many_arguments)]
async fn decode_all<F, H, M, C, Fut>(
    codec: &mut C,
    buf: &mut BytesMut,
    eof: bool,
    conn: &Conn<M>,
    shared: &Shared<Arc<F>, H, M>,
    out: &mut Outgoing<M, C>,
    msgs: &mut u64,
    bytes: &mut u64,
) -> Option<CloseReason>
where
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut,
    Fut: Future<Output = ()>,
    M: Send + 'static,
{
    loop {
        let before = buf.len();
        let r = if eof {
            codec.decode_eof(buf)
        } else {
            codec.decode(buf)
        };
        match r {
            Ok(Some(item)) => {
                let n = before - buf.len();
                *msgs += 1;
                *bytes += n as u64;
                shared.listener.on_message(conn, n);
                let Some(item) = pre_handle(conn, &*shared.listener, item) else {
                    continue;
                };
                let fut = (shared.handler)(conn.clone(), item);
                tokio::pin!(fut);
                if poll_once(fut.as_mut()).await.is_pending() {
                    if let Err(reason) = out.drive(fut).await {
                        conn.close(reason.clone());
                        return Some(reason);
                    }
                }
                if conn.is_closed() {
                    return conn.close_reason();
                }
                if shared.auth.is_some() && !conn.is_authenticated() {
                    return Some(CloseReason::AuthTimeout);
                }
            }
            Ok(None) => return None,
            Err(e) => {
                let e = e.to_string();
                shared.listener.on_decode_error(conn, &e);
                return Some(CloseReason::DecodeError(e));
            }
        }
    }
}

/// What the runtime does with a decoded item before the handler: a response to a call
/// and the peer's link check are consumed here (`None`); a response nobody waits for is
/// reported to the listener and then handed on.
#[inline(always)]
pub(crate) fn pre_handle<M, I>(conn: &Conn<M>, listener: &dyn Listener<M>, item: I) -> Option<I>
where
    M: Send + 'static,
    I: 'static,
{
    // the common case stays inline: moving the item through a call cost a store stall
    if !conn.inner.calls.routes() {
        return Some(item);
    }
    route(conn, listener, item)
}

fn route<M, I>(conn: &Conn<M>, listener: &dyn Listener<M>, item: I) -> Option<I>
where
    M: Send + 'static,
    I: 'static,
{
    match conn.inner.calls.route(item, |answer| {
        let _ = conn.try_send(answer);
    }) {
        Routed::Handle(item) => Some(item),
        Routed::Consumed => None,
        Routed::Unmatched(seq, item) => {
            tracing::debug!(id = %conn.id(), seq, "a response no call waits for");
            listener.on_unmatched_response(conn, seq);
            Some(item)
        }
    }
}

/// Polls a future once: `Ready` if it finished.
pub(crate) async fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut fut = fut;
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Resolves once the flag is true.
async fn flipped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
