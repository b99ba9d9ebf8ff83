//! The server: accept, one reader and one writer task per connection, graceful shutdown.

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, Encoder};

use crate::conn::{Conn, Outbound};
use crate::registry::{EncodeFn, Registry};
use crate::stats::{Stats, StatsSnapshot};
use crate::timer::IdleTimer;
use crate::{CloseReason, ConnId};

/// Lifecycle hooks, all with no-op defaults. Called from the connection's tasks: keep them
/// quick.
pub trait Listener<M>: Send + Sync + 'static {
    /// A connection was accepted.
    fn on_connected(&self, _conn: &Conn<M>) {}
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
}

/// A listener that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoListener;

impl<M> Listener<M> for NoListener {}

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
            max_buffered: 16 * 1024 * 1024,
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
    max_buffered: usize,
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

struct Shared<F, H, M> {
    make_codec: F,
    handler: H,
    listener: Arc<dyn Listener<M>>,
    registry: Registry<M>,
    stats: Arc<Stats>,
    idle: Option<Duration>,
    queue: usize,
    max_connections: usize,
    max_buffered: usize,
    next_id: AtomicU64,
}

/// A running server.
pub struct ServerHandle<M> {
    local_addr: SocketAddr,
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
    C: Decoder + Encoder<M> + Send + 'static,
    C::Item: Send + 'static,
    <C as Decoder>::Error: Display + Send,
    <C as Encoder<M>>::Error: Display,
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

    /// The most unread bytes a connection may buffer, whatever its codec does. Default
    /// 16 MiB.
    pub fn max_buffered(mut self, n: usize) -> Self {
        self.max_buffered = n;
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
            max_buffered: self.max_buffered,
            next_id: AtomicU64::new(1),
        });
        let (shutdown, rx) = watch::channel(None);
        let done = tokio::spawn(accept_loop(tcp, shared, rx));
        Ok(ServerHandle {
            local_addr,
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
    C: Decoder + Encoder<M> + Send + 'static,
    C::Item: Send + 'static,
    <C as Decoder>::Error: Display + Send,
    <C as Encoder<M>>::Error: Display,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    let mut conns = JoinSet::new();
    let deadline = loop {
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    if shared.registry.len() >= shared.max_connections {
                        shared.stats.accepted();
                        shared.stats.closed(&CloseReason::LimitExceeded);
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
    C: Decoder + Encoder<M> + Send + 'static,
    C::Item: Send + 'static,
    <C as Decoder>::Error: Display + Send,
    <C as Encoder<M>>::Error: Display,
    H: Fn(Conn<M>, C::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    M: Send + 'static,
{
    let local = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = mpsc::channel(shared.queue);
    let conn = Conn::new(id, peer, local, tx, shared.stats.clone());
    shared.stats.accepted();
    shared.registry.add(conn.clone());
    shared.listener.on_connected(&conn);
    tracing::debug!(%id, %peer, "connected");
    let writer = tokio::spawn(write_loop(
        wr,
        (shared.make_codec)(),
        rx,
        conn.clone(),
        shared.listener.clone(),
        shared.stats.clone(),
    ));
    let reason = read_loop(rd, (shared.make_codec)(), &conn, &shared).await;
    conn.close(reason);
    let reason = conn.close_reason().unwrap_or(CloseReason::PeerClosed);
    shared.listener.on_before_close(&conn, &reason);
    shared.registry.remove(id);
    let _ = writer.await;
    shared.stats.closed(&reason);
    tracing::debug!(%id, %reason, "closed");
    shared.listener.on_after_close(id, &reason);
}

async fn read_loop<F, H, M, C, Fut>(
    mut rd: OwnedReadHalf,
    mut codec: C,
    conn: &Conn<M>,
    shared: &Shared<Arc<F>, H, M>,
) -> CloseReason
where
    C: Decoder,
    <C as Decoder>::Error: Display,
    H: Fn(Conn<M>, C::Item) -> Fut,
    Fut: Future<Output = ()>,
    M: Send + 'static,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut idle = shared.idle.map(|d| IdleTimer::new(d, now()));
    let mut closed = conn.closed_rx();
    loop {
        if buf.len() >= shared.max_buffered {
            return CloseReason::LimitExceeded;
        }
        let deadline = idle.map(|i| tokio::time::Instant::from_std(i.deadline()));
        let eof = tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => true,
                Ok(_) => false,
                Err(_) => return CloseReason::PeerClosed,
            },
            () = sleep_until(deadline) => return CloseReason::IdleTimeout,
            _ = closed.wait_for(|c| *c) => return conn.close_reason().unwrap_or(CloseReason::Kicked),
        };
        if let Some(i) = &mut idle {
            i.on_read(now());
        }
        loop {
            let before = buf.len();
            let r = if eof {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            match r {
                Ok(Some(item)) => {
                    let n = before - buf.len();
                    shared.stats.received(n);
                    shared.listener.on_message(conn, n);
                    (shared.handler)(conn.clone(), item).await;
                    if let Some(reason) = conn.close_reason() {
                        return reason;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let e = e.to_string();
                    shared.listener.on_decode_error(conn, &e);
                    return CloseReason::DecodeError(e);
                }
            }
        }
        if eof {
            return CloseReason::PeerClosed;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Writes queued messages, coalescing whatever is queued into one buffer per write.
async fn write_loop<M, C>(
    mut wr: OwnedWriteHalf,
    mut codec: C,
    mut rx: mpsc::Receiver<Outbound<M>>,
    conn: Conn<M>,
    listener: Arc<dyn Listener<M>>,
    stats: Arc<Stats>,
) where
    C: Encoder<M>,
    <C as Encoder<M>>::Error: Display,
    M: Send + 'static,
{
    const MAX_BATCH: usize = 64;
    const MAX_BYTES: usize = 64 * 1024;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut closed = conn.closed_rx();
    let mut closing = false;
    loop {
        let first = if closing {
            rx.try_recv().ok()
        } else {
            tokio::select! {
                m = rx.recv() => m,
                _ = closed.wait_for(|c| *c) => {
                    closing = true;
                    rx.try_recv().ok()
                }
            }
        };
        let Some(first) = first else { break };
        buf.clear();
        let mut n = 0;
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Outbound::Msg(m) => {
                    if let Err(e) = codec.encode(m, &mut buf) {
                        tracing::warn!(id = %conn.id(), error = %e, "a message could not be encoded; dropped");
                    } else {
                        n += 1;
                    }
                }
                Outbound::Raw(b) => {
                    buf.extend_from_slice(&b);
                    n += 1;
                }
            }
            if n < MAX_BATCH && buf.len() < MAX_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if buf.is_empty() {
            continue;
        }
        if let Err(e) = wr.write_all(&buf).await {
            conn.close(CloseReason::WriteError(e.to_string()));
            break;
        }
        stats.sent(n, buf.len());
        listener.on_sent(&conn, n, buf.len());
    }
    let _ = wr.shutdown().await;
}
