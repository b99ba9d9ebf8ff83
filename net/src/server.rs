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

use crate::blocklist::BlockList;
use crate::config::{ConnConfig, conn_options};
use crate::conn::{Conn, EncodeFn, encoder_of};
use crate::driver::{Driver, Env, now};
use crate::ip_stats::{IpCounter, IpStats, IpWindows};
use crate::listener::{Listener, NoListener};
use crate::registry::Registry;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;
use crate::{CloseReason, Codec, ConnId, QueuePolicy};

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
            conn: ConnConfig::new(QueuePolicy::Wait),
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            max_per_ip: usize::MAX,
            blocked: BlockList::default(),
            backlog: 4096,
        }
    }
}

/// Options for a server; [`ServerBuilder::bind`] starts it.
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
    /// the same registry, type-erased, for `Conn::registry`
    registry_any: Arc<dyn Any + Send + Sync>,
    encode: EncodeFn<M>,
    server: ServerConfig,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    windows: Arc<IpWindows>,
    next_id: AtomicU64,
}

impl<F, H, M: Send + 'static> Shared<F, H, M> {
    /// Whether a new connection from `peer` may open; a refusal is counted and logged.
    fn admit(&self, peer: SocketAddr) -> bool {
        let refused = if self.server.blocked.is_blocked(peer.ip()) {
            CloseReason::BlockedIp
        } else if self.registry.len() >= self.server.max_connections || !self.admit_ip(peer.ip()) {
            CloseReason::LimitExceeded
        } else {
            return true;
        };
        self.windows.add(peer.ip(), now(), 1, 0, 0);
        self.env.stats.accepted();
        self.env.stats.closed(&refused);
        tracing::debug!(%peer, reason = %refused, "refused");
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
pub struct ServerHandle<M> {
    local_addr: SocketAddr,
    blocked: BlockList,
    windows: Arc<IpWindows>,
    registry: Registry<M>,
    stats: Arc<Stats>,
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
    conn_options!();

    /// The most open connections; more are closed on accept. Default 10 000.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.server.max_connections = n;
        self
    }

    /// The most connections from one IP address; more are closed on accept. Default: no
    /// limit.
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.server.max_per_ip = n;
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

    /// Binds and starts accepting.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(self, addr: impl tokio::net::ToSocketAddrs) -> io::Result<ServerHandle<M>> {
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
        let windows = Arc::new(IpWindows::new(Duration::from_secs(60)));
        let registry = Registry::new(encode.clone());
        let blocked = self.server.blocked.clone();
        let shared = Arc::new(Shared {
            make_codec: make,
            env: Env {
                handler: self.handler,
                listener: self.listener,
                stats: stats.clone(),
                cfg: self.conn,
            },
            registry_any: Arc::new(registry.clone()),
            registry: registry.clone(),
            encode,
            server: self.server,
            per_ip: Mutex::new(HashMap::new()),
            windows: windows.clone(),
            next_id: AtomicU64::new(1),
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

async fn accept_loop<F, H, M, C, Fut>(
    tcp: TcpListener,
    mut adopted: mpsc::UnboundedReceiver<Adopted>,
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
                    if shared.admit(peer) {
                        let _ = stream.set_nodelay(true);
                        conns.spawn(serve(stream, peer, shared.clone()));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some((stream, peer)) = adopted.recv() => {
                if shared.admit(peer) {
                    conns.spawn(serve(stream, peer, shared.clone()));
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
    for c in shared.registry.all() {
        c.close(CloseReason::ServerShutdown);
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, drain).await.is_err() {
        conns.abort_all();
    }
}

/// Sets a connection up and returns its task: built outside the future, so the task
/// holds only the driver's box and what it needs after the close.
fn serve<T, F, H, M, C, Fut>(
    stream: T,
    peer: SocketAddr,
    shared: Arc<Shared<Arc<F>, H, M>>,
) -> impl Future<Output = ()> + Send + 'static
where
    T: Transport,
    F: Fn() -> C + Send + Sync + 'static,
    C: Codec<M>,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    let local = Transport::local_addr(&stream).unwrap_or(peer);
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let cfg = &shared.env.cfg;
    let conn = Conn::new(
        id,
        (peer, local),
        cfg.settings(&shared.encode, &shared.registry_any),
        shared.env.stats.clone(),
    );
    shared.env.stats.accepted();
    shared.registry.add(conn.clone());
    let ring = IpCounter {
        windows: shared.windows.clone(),
        ring: shared.windows.ring(peer.ip(), now()),
    };
    shared.windows.add_to(&ring.ring, now(), 1, 0, 0);
    tracing::debug!(%id, %peer, "connected");
    shared.env.listener.on_connected(&conn, false);
    let make: &F = &shared.make_codec;
    let driver = Driver::new(stream, &make, conn, cfg, Some(ring));
    async move {
        let reason = driver.run(&shared.env, || shared.registry.remove(id)).await;
        shared.release_ip(peer.ip());
        shared.env.listener.on_after_close(id, &reason);
    }
}
