//! The server: accept, admission (block list, connection limits), one task per
//! connection running the shared driver, graceful shutdown.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, Encoder};
use tracing::Instrument;

use crate::blocklist::BlockList;
use crate::budget::Budget;
use crate::config::{ConnConfig, conn_options};
use crate::conn::{Conn, EncodeFn, Settings, encoder_of};
use crate::driver::{Driver, Env, now};
use crate::ip_stats::{IpCounter, IpStats, IpWindows};
use crate::limits::{
    DEFAULT_FRAME_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_PER_IP, DEFAULT_MEMORY_BUDGET,
    DEFAULT_WRITE_TIMEOUT, Limits, default_max_connections,
};
use crate::listener::{Listener, NoListener};
use crate::registry::Registry;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;
use crate::tree::{StatsTree, TopIps};
use crate::{AsyncHandler, Handler, Reply, SyncHandler};
use crate::{CloseReason, Codec, ConnId, QueuePolicy};

/// Entry point: [`Server::builder`] (async handlers), [`Server::builder_sync`] (plain
/// ones), [`Server::builder_with`] (a [`Handler`] type of your own).
///
/// ```no_run
/// use bytes::Bytes;
/// use packwire_codecs::LineCodec;
/// use packwire_net::{Conn, Server};
///
/// # async fn run() -> std::io::Result<()> {
/// // a line server that answers each line in capitals
/// let server = Server::builder_sync(LineCodec::new, |_: &Conn<Bytes>, line: Bytes| {
///     Some(Bytes::from(line.to_ascii_uppercase()))
/// })
/// .bind("127.0.0.1:7000")
/// .await?;
/// println!("{} connections", server.stats().current);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A server whose connections each get a codec from `make_codec` and whose decoded
    /// messages go to the async `handler` (one connection's messages in order; a slow
    /// handler holds up only its own connection). Its future returns nothing or the
    /// answer ([`Reply`]).
    pub fn builder<C, F, H, Fut, M>(
        make_codec: F,
        handler: H,
    ) -> ServerBuilder<F, AsyncHandler<H>, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output: Reply<M>> + Send + 'static,
        M: Send + 'static,
    {
        Server::builder_with(make_codec, AsyncHandler(handler))
    }

    /// As [`builder`](Self::builder), with a plain handler that finishes on the
    /// connection's task and returns nothing or the answer: the cheapest form, for a
    /// handler that never waits (see [`Handler`]).
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use packwire_codecs::LengthFieldCodec;
    /// use packwire_net::{Conn, Server};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// // the echo: each frame answered with itself
    /// let server = Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, frame: Bytes| {
    ///     Some(frame)
    /// })
    /// .bind("127.0.0.1:0")
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder_sync<C, F, H, R, M>(
        make_codec: F,
        handler: H,
    ) -> ServerBuilder<F, SyncHandler<H>, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Fn(&Conn<M>, C::Item) -> R + Send + Sync + 'static,
        R: Reply<M>,
        M: Send + 'static,
    {
        Server::builder_with(make_codec, SyncHandler(handler))
    }

    /// As [`builder`](Self::builder), with any [`Handler`] (a type of your own that
    /// carries state, for example).
    pub fn builder_with<C, F, H, M>(make_codec: F, handler: H) -> ServerBuilder<F, H, M>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder + Encoder<M> + Send + 'static,
        H: Handler<M, C::Item>,
        M: Send + 'static,
    {
        let mut conn = ConnConfig::new(QueuePolicy::Wait);
        // a server faces peers it does not know: its guards are on by default
        conn.timers.idle_timeout = Some(DEFAULT_IDLE_TIMEOUT);
        conn.timers.write_timeout = Some(DEFAULT_WRITE_TIMEOUT);
        conn.frame_follows_idle = true;
        ServerBuilder {
            make_codec,
            handler,
            listener: Arc::new(NoListener),
            conn,
            server: ServerConfig::default(),
        }
    }
}

/// What a server admits, as plain data.
#[derive(Debug, Clone)]
struct ServerConfig {
    max_connections: usize,
    max_per_ip: usize,
    blocked: BlockList,
    backlog: u32,
    budget: usize,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: default_max_connections(),
            max_per_ip: DEFAULT_MAX_PER_IP,
            blocked: BlockList::default(),
            backlog: 4096,
            budget: DEFAULT_MEMORY_BUDGET,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Options for a server; [`ServerBuilder::bind`] starts it.
///
/// ```no_run
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use packwire_codecs::LineCodec;
/// use packwire_net::{Conn, Server};
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::builder(LineCodec::new, |conn: Conn<Bytes>, line: Bytes| async move {
///     let _ = conn.send(line).await;
/// })
/// .idle_timeout(Duration::from_secs(60)) // a silent peer goes after a minute
/// .max_connections_per_ip(64)
/// .bind("0.0.0.0:7000")
/// .await?;
/// # Ok(()) }
/// ```
pub struct ServerBuilder<F, H, M> {
    make_codec: F,
    handler: H,
    listener: Arc<dyn Listener<M>>,
    conn: ConnConfig<M>,
    server: ServerConfig,
}

impl<F, H, M> std::fmt::Debug for ServerBuilder<F, H, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("conn", &self.conn)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

struct Shared<F, H, M> {
    make_codec: F,
    env: Env<M, H>,
    registry: Registry<M>,
    /// what every connection shares
    settings: Arc<Settings<M>>,
    server: ServerConfig,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    windows: Arc<IpWindows>,
    next_id: AtomicU64,
    /// refusals since the last refusal log line, and the second (+1) it was written in
    refused: AtomicU64,
    refused_logged: AtomicU64,
    started: std::time::Instant,
}

impl<F, H, M: Send + 'static> Shared<F, H, M> {
    /// Whether a new connection from `peer` may open; a refusal is counted and logged.
    fn admit(&self, peer: SocketAddr) -> bool {
        let refused = if self.server.blocked.is_blocked(peer.ip()) {
            CloseReason::BlockedIp
        } else if self.registry.len() >= self.server.max_connections {
            CloseReason::LimitExceeded
        } else if !self.admit_ip(peer.ip()) {
            CloseReason::PerIpLimit
        } else {
            return true;
        };
        self.windows.refused(peer.ip(), now());
        self.env.stats.accepted();
        self.env.stats.closed(&refused);
        // one line per second at most, saying why and how many since the last line
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let sec = now().duration_since(self.started).as_secs() + 1;
        if self.refused_logged.swap(sec, Ordering::Relaxed) != sec {
            self.refused.store(0, Ordering::Relaxed);
            tracing::warn!(
                %peer,
                reason = %refused,
                refused_since_last_line = n,
                max_connections = self.server.max_connections,
                max_per_ip = self.server.max_per_ip,
                "connection refused"
            );
        }
        false
    }

    /// Counts a connection from `ip` if the per-IP limit allows it.
    fn admit_ip(&self, ip: IpAddr) -> bool {
        let mut m = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= self.server.max_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    fn release_ip(&self, ip: IpAddr) {
        let mut m = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// A running server.
///
/// ```no_run
/// # use std::time::Duration;
/// # use bytes::Bytes;
/// # use packwire_net::ServerHandle;
/// # async fn run(server: ServerHandle<Bytes>) {
/// println!("listening on {}", server.local_addr());
/// server.block_list().block("192.0.2.7".parse().unwrap());
/// server.registry().send_to_all(Bytes::from_static(b"maintenance in 5 minutes"));
/// println!("{}", server.stats());
/// let last = server.shutdown(Duration::from_secs(5)).await; // graceful: queues written
/// println!("served {} connections", last.accepted);
/// # }
/// ```
pub struct ServerHandle<M> {
    local_addr: SocketAddr,
    blocked: BlockList,
    windows: Arc<IpWindows>,
    registry: Registry<M>,
    stats: Arc<Stats>,
    budget: Arc<Budget>,
    shutdown: watch::Sender<Option<Duration>>,
    adopt: mpsc::UnboundedSender<Adopted>,
    done: tokio::task::JoinHandle<()>,
}

/// A connection handed to [`ServerHandle::adopt`].
type Adopted = (Box<dyn Transport>, SocketAddr);

impl<M> std::fmt::Debug for ServerHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl<M> ServerHandle<M> {
    /// The live counters, for exporters that read them on their own schedule.
    #[cfg(feature = "metrics")]
    pub(crate) fn stats_arc(&self) -> Arc<Stats> {
        self.stats.clone()
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

    /// The `n` busiest IP addresses over the last 60 seconds, the others added up.
    pub fn top_ips(&self, n: usize) -> TopIps {
        self.windows.top(n, now())
    }

    /// The statistics as t-io's tree: the server's counters, then its `n` busiest groups,
    /// IP addresses (last 60 seconds) and open connections, each level with the rest
    /// added up. It looks at every open connection: call it for a report, not per message.
    pub fn stats_tree(&self, n: usize) -> StatsTree {
        let registry = self.registry();
        let conns = registry
            .every()
            .iter()
            .map(|c| (c.id(), c.stats()))
            .collect();
        StatsTree::new(
            self.stats(),
            registry.groups_stats(),
            self.top_ips(n),
            conns,
            n,
        )
    }

    /// The block list, to change while the server runs.
    pub fn block_list(&self) -> &BlockList {
        &self.blocked
    }

    /// The statistics now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Bytes of the memory budget in use now ([`ServerBuilder::memory_budget`]).
    pub fn budget_in_use(&self) -> usize {
        self.budget.used()
    }

    /// Serves a connection that arrived some other way than this server's TCP listener —
    /// an in-memory pipe, a socket taken over after an HTTP upgrade, a TLS stream whose
    /// handshake ran elsewhere — exactly as an accepted one: the same admission (block
    /// list, limits, counted against `peer`'s address), registry, hooks, statistics and
    /// shutdown.
    ///
    /// # Errors
    /// Gives the transport back when the server has stopped accepting. (One handed over
    /// while the server is stopping is closed with the others.)
    pub fn adopt<T: Transport>(&self, transport: T, peer: SocketAddr) -> Result<(), T> {
        if self.adopt.is_closed() {
            return Err(transport);
        }
        let _ = self.adopt.send((Box::new(transport), peer));
        Ok(())
    }

    /// Stops accepting, closes every connection with [`CloseReason::ServerShutdown`]
    /// after writing what is queued for it (then a FIN, and the peer's unread input is
    /// drained so the kernel sends no reset), and resolves when all are closed with the
    /// final statistics; connections still open after `deadline` are dropped.
    pub async fn shutdown(self, deadline: Duration) -> StatsSnapshot {
        self.shutdown.send_replace(Some(deadline));
        let _ = self.done.await;
        self.stats.snapshot()
    }
}

impl<F, H, M, C> ServerBuilder<F, H, M>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Handler<M, C::Item>,
    M: Send + 'static,
{
    conn_options!();

    /// The most open connections; more are closed on accept
    /// ([`CloseReason::LimitExceeded`], counted and logged). Default: the open-files
    /// limit less a reserve ([`default_max_connections`]).
    ///
    /// Security: a fixed number above the open-files limit turns an exhausted descriptor
    /// table into failed accepts for everyone; below it, the reserve keeps descriptors
    /// for the rest of the process.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.server.max_connections = n;
        self
    }

    /// The most connections from one IP address; more are closed on accept
    /// ([`CloseReason::PerIpLimit`], counted and logged). Default 1024
    /// ([`DEFAULT_MAX_PER_IP`]); `usize::MAX` for none.
    ///
    /// Security: without it one host can take every slot. 1024 leaves room for many
    /// users behind one NAT; lower it where each address is one device.
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.server.max_per_ip = n;
        self
    }

    /// Applies the limits an operator set; the others keep their defaults.
    pub fn limits(mut self, l: &Limits) -> Self {
        if let Some(t) = l.idle_timeout {
            self.conn.timers.idle_timeout = (!t.is_zero()).then_some(t);
        }
        if let Some(n) = l.max_connections {
            self.server.max_connections = n;
        }
        if let Some(n) = l.max_per_ip {
            self.server.max_per_ip = n;
        }
        if let Some(n) = l.max_queued_bytes {
            self.conn.max_queued_bytes = n.max(1);
        }
        if let Some(n) = l.memory_budget {
            self.server.budget = n;
        }
        self
    }

    /// The memory every connection together may hold beyond each one's first 64 KiB of
    /// input and 64 KiB of queued output: large partial frames and deep queues. A
    /// connection whose input needs more than is left is closed
    /// ([`CloseReason::OverBudget`]); a send that would need more waits (or fails, under
    /// its queue policy). Default 512 MiB ([`DEFAULT_MEMORY_BUDGET`]).
    ///
    /// Security: per-connection bounds alone multiply: 200 peers each holding all but
    /// one byte of an 8 MiB frame would take 1.6 GB. The budget caps the sum, while
    /// ordinary connections (small frames, short queues) never touch it.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.server.budget = bytes;
        self
    }

    /// The block list checked on accept (share it to change it later).
    pub fn block_list(mut self, list: BlockList) -> Self {
        self.server.blocked = list;
        self
    }

    /// The listen backlog: connections the kernel queues before they are accepted.
    /// Default 4096 (the kernel caps it at `net.core.somaxconn`); tokio's own `bind` asks
    /// for 1024, which a burst of connects overflows into SYN retries of a second each.
    pub fn backlog(mut self, n: u32) -> Self {
        self.server.backlog = n.max(1);
        self
    }

    /// Requires every connection to be authenticated by the handler
    /// ([`Conn::authenticate`]) while it handles the connection's first message, which must
    /// arrive within `deadline`. A connection that sends nothing in time, or whose first
    /// message does not authenticate it, is closed with [`CloseReason::AuthTimeout`]; no
    /// other message reaches the handler before authentication.
    pub fn auth_gate(mut self, deadline: Duration) -> Self {
        self.conn.timers.auth = Some(deadline);
        self
    }

    /// Serves TLS: each accepted connection runs the handshake first (within the
    /// acceptor's deadline; a failure or a timeout closes it and is counted in the
    /// acceptor's [`TlsStats`](crate::tls::TlsStats)), then the codec over the TLS
    /// stream. What the handshake settled is [`Conn::tls`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, acceptor: crate::tls::TlsAcceptor) -> Self {
        self.server.tls = Some(acceptor);
        self
    }

    /// Binds and starts accepting.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(
        mut self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> io::Result<ServerHandle<M>> {
        if self.conn.frame_follows_idle {
            let t = &mut self.conn.timers;
            t.frame_timeout = Some(
                t.idle_timeout
                    .map_or(DEFAULT_FRAME_TIMEOUT, |i| i.min(DEFAULT_FRAME_TIMEOUT)),
            );
        }
        let mut last = None;
        let mut tcp = None;
        for a in tokio::net::lookup_host(addr).await? {
            match listen(a, self.server.backlog) {
                Ok(l) => {
                    tcp = Some(l);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match tcp {
            Some(t) => t,
            None => {
                return Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")
                }));
            }
        };
        let local_addr = tcp.local_addr()?;
        let make = Arc::new(self.make_codec);
        let encoder = make.clone();
        let encode: EncodeFn<M> = encoder_of(encoder);
        let stats = Arc::new(Stats::default());
        let budget = Arc::new(Budget::new(self.server.budget));
        let windows = Arc::new(IpWindows::new(Duration::from_secs(60)));
        IpWindows::keep_time(&windows, now);
        let registry = Registry::new(encode.clone());
        let blocked = self.server.blocked.clone();
        let conn_cfg = self.conn;
        let settings = conn_cfg.settings(
            &(Arc::new(registry.clone()) as Arc<dyn Any + Send + Sync>),
            Some(&budget),
            &stats,
        );
        let shared = Arc::new(Shared {
            make_codec: make,
            env: Env {
                handler: self.handler,
                listener: self.listener,
                stats: stats.clone(),
                cfg: conn_cfg,
            },
            settings,
            registry: registry.clone(),
            server: self.server,
            per_ip: Mutex::new(HashMap::new()),
            windows: windows.clone(),
            next_id: AtomicU64::new(1),
            refused: AtomicU64::new(0),
            refused_logged: AtomicU64::new(0),
            started: now(),
        });
        let (shutdown, rx) = watch::channel(None);
        let (adopt, adopted) = mpsc::unbounded_channel();
        let done = tokio::spawn(accept_loop(tcp, adopted, shared, rx));
        Ok(ServerHandle {
            local_addr,
            blocked,
            windows,
            registry,
            stats,
            budget,
            shutdown,
            adopt,
            done,
        })
    }
}

fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(backlog)
}

async fn accept_loop<F, H, M, C>(
    tcp: TcpListener,
    mut adopted: mpsc::UnboundedReceiver<Adopted>,
    shared: Arc<Shared<Arc<F>, H, M>>,
    mut shutdown: watch::Receiver<Option<Duration>>,
) where
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Handler<M, C::Item>,
    M: Send + 'static,
{
    let mut conns = JoinSet::new();
    let deadline = loop {
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    if shared.admit(peer) {
                        let _ = stream.set_nodelay(true);
                        #[cfg(feature = "tls")]
                        if let Some(tls) = shared.server.tls.clone() {
                            let shared = shared.clone();
                            conns.spawn(async move {
                                // the peer's place (per-IP count) is held while it shakes hands
                                match tls.accept(stream).await {
                                    Some((s, info)) => {
                                        let info = Arc::new(info);
                                        serve(s, peer, shared, move |c| c.set_attr(info)).await;
                                    }
                                    None => shared.release_ip(peer.ip()),
                                }
                            });
                            continue;
                        }
                        conns.spawn(serve(stream, peer, shared.clone(), |_| {}));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some((stream, peer)) = adopted.recv() => {
                if shared.admit(peer) {
                    conns.spawn(serve(stream, peer, shared.clone(), |_| {}));
                }
            }
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
    adopted.close();
    while let Ok((stream, _)) = adopted.try_recv() {
        drop(stream);
    }
    for c in shared.registry.every() {
        c.close(CloseReason::ServerShutdown);
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, drain).await.is_err() {
        conns.abort_all();
    }
}

/// Sets a connection up and returns its task: built outside the future, so the task
/// holds only the driver's box and what it needs after the close.
fn serve<T, F, H, M, C>(
    stream: T,
    peer: SocketAddr,
    shared: Arc<Shared<Arc<F>, H, M>>,
    init: impl FnOnce(&Conn<M>),
) -> impl Future<Output = ()> + Send + 'static
where
    T: Transport,
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Handler<M, C::Item>,
    M: Send + 'static,
{
    let local = Transport::local_addr(&stream).unwrap_or(peer);
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let cfg = &shared.env.cfg;
    let conn = Conn::new(id, (peer, local), shared.settings.clone());
    init(&conn);
    shared.env.stats.accepted();
    shared.registry.add(conn.clone());
    let ring = IpCounter {
        windows: shared.windows.clone(),
        ring: shared.windows.ring(peer.ip(), now()),
    };
    shared.windows.connected(&ring.ring, now());
    tracing::debug!(%id, %peer, "connected");
    shared.env.listener.on_connected(&conn, false);
    let span = crate::driver::span::<M, C>(&conn, "server");
    // boxed, and kept only when something records it: the idle task carries a pointer
    let span = (!span.is_disabled()).then(|| Box::new(span));
    let make: &F = &shared.make_codec;
    let driver = Driver::new(stream, &make, conn, cfg, Some(ring));
    async move {
        let run = driver.run(&shared.env, || shared.registry.remove(id));
        // a span nobody records would cost its enter and exit on every wake
        let reason = match span {
            None => run.await,
            Some(span) => Box::pin(run.instrument(*span)).await,
        };
        shared.release_ip(peer.ip());
        shared.env.listener.on_after_close(id, &reason);
    }
}
