//! A [`ServerSession`] per connection on the packwire-net runtime: the gateway side of
//! any protocol ([`crate::smpp::Smsc`] and [`crate::cmpp::Ismg`] are this with their
//! protocol). Each PDU goes to its connection's session with the time; what the session
//! hands out is written (answers wait for room, never dropped: a client that does not
//! read is back-pressured); a timer task per connection runs its deadlines.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use packwire_net::{
    CloseReason, Conn, ConnId, Limits, Listener, Server, ServerHandle, StatsSnapshot,
};
use tokio::net::ToSocketAddrs;
use tokio::sync::{Notify, oneshot};
use tokio_util::codec::Decoder;

use super::server::{Ending, EventOf, ServerEvent, ServerProtocol, ServerSession, ServerShared};

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the runtime serves the sessions.
#[derive(Debug, Clone)]
pub struct ServeOptions<M> {
    /// A connection must log in within this (the runtime's auth gate).
    pub login_timeout: Duration,
    /// Messages that may wait unwritten per connection; past it, the connection reads
    /// nothing more until they are written.
    pub queue: usize,
    /// What a message weighs in the queue's byte bound.
    pub weigh: Option<fn(&M) -> usize>,
    /// The server's hostile-peer limits.
    pub limits: Limits,
    /// Serve TLS with this acceptor.
    #[cfg(feature = "tls")]
    pub tls: Option<packwire_net::tls::TlsAcceptor>,
}

impl<M> Default for ServeOptions<M> {
    /// Log in within 10 s, 16 messages unwritten, the server's default limits with the
    /// idle timeout off (the sessions' link checks find dead clients).
    fn default() -> Self {
        ServeOptions {
            login_timeout: Duration::from_secs(10),
            queue: 16,
            weigh: None,
            limits: Limits {
                idle_timeout: Some(Duration::ZERO),
                ..Limits::default()
            },
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Why [`GatewayServer::push_mo_to`] did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoError {
    /// The connection is not logged in to receive, or the text cannot be carried.
    #[error("the connection is not logged in to receive, or the text cannot be carried")]
    NotReceiving,
    /// A part went unanswered as often as the session sends it.
    #[error("a part was not answered")]
    Unanswered,
    /// The connection closed first.
    #[error("the connection closed")]
    Closed,
}

/// A protocol the runtime can run: it and what its sessions hold may cross threads.
/// Every [`ServerProtocol`] whose types are `Send` (and its PDUs and account terms
/// `Sync`) is one.
pub trait Served:
    ServerProtocol<
        Pdu: Send + Sync + 'static,
        Id: Send,
        Login: Send,
        Allowed: Send + Sync + 'static,
    > + Send
    + 'static
{
}

impl<P> Served for P where
    P: ServerProtocol<
            Pdu: Send + Sync + 'static,
            Id: Send,
            Login: Send,
            Allowed: Send + Sync + 'static,
        > + Send
        + 'static
{
}

/// One connection's session and its timer.
struct ConnSession<P: ServerProtocol> {
    session: Mutex<ServerSession<P>>,
    wake: Notify,
    timer: AtomicBool,
}

type Sink<P> = Box<dyn Fn(&Conn<<P as ServerProtocol>::Pdu>, EventOf<P>) + Send + Sync>;
type NewProtocol<P> = Box<dyn Fn(&Conn<<P as ServerProtocol>::Pdu>) -> P + Send + Sync>;

struct Run<P: ServerProtocol> {
    shared: Arc<ServerShared<P::Allowed>>,
    new_protocol: NewProtocol<P>,
    sink: Sink<P>,
    mo_waiters: Mutex<HashMap<(ConnId, u64), oneshot::Sender<bool>>>,
    logout_waiters: Mutex<HashMap<ConnId, oneshot::Sender<()>>>,
    reports_dropped: AtomicU64,
}

impl<P: Served> Run<P> {
    fn session_of(&self, conn: &Conn<P::Pdu>) -> Arc<ConnSession<P>> {
        if let Some(s) = conn.attr::<Arc<ConnSession<P>>>() {
            return s;
        }
        let session = ServerSession::new(self.shared.clone(), (self.new_protocol)(conn))
            .with_peer(conn.peer_addr());
        let s = Arc::new(ConnSession {
            session: Mutex::new(session),
            wake: Notify::new(),
            timer: AtomicBool::new(false),
        });
        conn.set_attr(s.clone());
        s
    }

    /// Takes what `s` hands out: its events go on (a connection is bound to its account
    /// before its login answer goes, so an MO pushed once the client has its answer finds
    /// it), its PDUs are returned to be written, with how the connection ends if it does.
    fn drain(
        &self,
        conn: &Conn<P::Pdu>,
        s: &mut ServerSession<P>,
    ) -> (Vec<P::Pdu>, Option<CloseReason>) {
        while let Some(e) = s.poll_event() {
            match &e {
                ServerEvent::LoggedIn { account, .. } => {
                    conn.authenticate();
                    if let Some(r) = conn.registry() {
                        r.bind_user(conn, &String::from_utf8_lossy(account));
                    }
                }
                ServerEvent::MoSent { mo, acked } => {
                    if let Some(w) = lock(&self.mo_waiters).remove(&(conn.id(), *mo)) {
                        let _ = w.send(*acked);
                    }
                }
                ServerEvent::LoggedOut { .. } => {
                    if let Some(w) = lock(&self.logout_waiters).remove(&conn.id()) {
                        let _ = w.send(());
                    }
                }
                _ => {}
            }
            (self.sink)(conn, e);
        }
        let dropped = s.take_reports_dropped();
        if dropped > 0 {
            self.reports_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        let out = std::iter::from_fn(|| s.poll_transmit()).collect();
        let close = s.ending().map(|e| match e {
            Ending::LinkLost => CloseReason::IdleTimeout,
            Ending::LoggedOut => CloseReason::Kicked,
        });
        (out, close)
    }

    /// Writes `out` (waiting for room: nothing is dropped), then closes if asked.
    async fn write(conn: &Conn<P::Pdu>, out: Vec<P::Pdu>, close: Option<CloseReason>) {
        for p in out {
            // only a closed connection refuses it, and then nobody is left to read it
            if conn.respond(p).await.is_err() {
                break;
            }
        }
        if let Some(reason) = close {
            conn.close(reason);
        }
    }

    async fn on_pdu(self: Arc<Self>, conn: Conn<P::Pdu>, pdu: P::Pdu) {
        let cs = self.session_of(&conn);
        let (out, close, due) = {
            let mut s = lock(&cs.session);
            s.handle(now(), &pdu);
            let (out, close) = self.drain(&conn, &mut s);
            (out, close, s.poll_timeout().is_some())
        };
        Self::write(&conn, out, close).await;
        if due {
            self.start_timer(&conn, cs);
        }
    }

    /// Runs a connection's deadlines as they come, until it closes.
    fn start_timer(self: &Arc<Self>, conn: &Conn<P::Pdu>, cs: Arc<ConnSession<P>>) {
        if cs.timer.swap(true, Ordering::AcqRel) {
            cs.wake.notify_one();
            return;
        }
        let (run, conn) = (self.clone(), conn.clone());
        tokio::spawn(async move {
            while !conn.is_closed() {
                let due = lock(&cs.session).poll_timeout();
                let wake = cs.wake.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                // a closed connection is looked at again at least once a second
                let t = due.unwrap_or_else(|| now() + Duration::from_secs(1));
                tokio::select! {
                    _ = tokio::time::sleep_until(t.into()) => {}
                    _ = &mut wake => {}
                }
                let (out, close) = {
                    let mut s = lock(&cs.session);
                    s.handle_timeout(now());
                    run.drain(&conn, &mut s)
                };
                Self::write(&conn, out, close).await;
            }
        });
    }

    /// Runs `f` on `conn`'s session and writes what it hands out.
    async fn with_session<T>(
        self: &Arc<Self>,
        conn: &Conn<P::Pdu>,
        f: impl FnOnce(&mut ServerSession<P>) -> T,
    ) -> T {
        let cs = self.session_of(conn);
        let (t, out, close) = {
            let mut s = lock(&cs.session);
            let t = f(&mut s);
            let (out, close) = self.drain(conn, &mut s);
            (t, out, close)
        };
        Self::write(conn, out, close).await;
        self.start_timer(conn, cs);
        t
    }
}

/// Gives a closing connection's place back to its account at once, and fails what
/// waited on it.
struct Closed<P: ServerProtocol>(Arc<Run<P>>);

impl<P: Served> Listener<P::Pdu> for Closed<P> {
    fn on_before_close(&self, conn: &Conn<P::Pdu>, _reason: &CloseReason) {
        if let Some(cs) = conn.attr::<Arc<ConnSession<P>>>() {
            let mut s = lock(&cs.session);
            s.closed();
            // what it gave up is reported; nothing more can be written
            let _ = self.0.drain(conn, &mut s);
        }
        lock(&self.0.mo_waiters).retain(|(id, _), _| *id != conn.id());
        lock(&self.0.logout_waiters).remove(&conn.id());
    }
}

/// A gateway (an ISMG, an SMSC) for protocol `P`: a [`ServerSession`] per connection on
/// the runtime, the sessions' events passed to a sink of the caller's.
pub struct GatewayServer<P: ServerProtocol> {
    server: ServerHandle<P::Pdu>,
    run: Arc<Run<P>>,
}

impl<P: ServerProtocol> std::fmt::Debug for GatewayServer<P>
where
    P::Pdu: Send + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayServer")
            .field("local_addr", &self.server.local_addr())
            .finish_non_exhaustive()
    }
}

impl<P: Served> GatewayServer<P> {
    /// Listens on `addr`: each connection gets a codec from `make_codec` and a session of
    /// `shared` speaking the protocol `new_protocol` makes for it; every event goes to
    /// `sink` with its connection.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind<C, F>(
        addr: impl ToSocketAddrs,
        make_codec: F,
        shared: Arc<ServerShared<P::Allowed>>,
        new_protocol: impl Fn(&Conn<P::Pdu>) -> P + Send + Sync + 'static,
        sink: impl Fn(&Conn<P::Pdu>, EventOf<P>) + Send + Sync + 'static,
        opts: &ServeOptions<P::Pdu>,
    ) -> io::Result<Self>
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder<Item = P::Pdu> + packwire_net::Codec<P::Pdu>,
    {
        let run = Arc::new(Run {
            shared,
            new_protocol: Box::new(new_protocol),
            sink: Box::new(sink),
            mo_waiters: Mutex::new(HashMap::new()),
            logout_waiters: Mutex::new(HashMap::new()),
            reports_dropped: AtomicU64::new(0),
        });
        let r = run.clone();
        let mut b = Server::builder(make_codec, move |conn: Conn<P::Pdu>, pdu: P::Pdu| {
            r.clone().on_pdu(conn, pdu)
        })
        .queue_capacity(opts.queue)
        .auth_gate(opts.login_timeout)
        .limits(&opts.limits)
        .listener(Closed(run.clone()));
        if let Some(w) = opts.weigh {
            b = b.message_size(w);
        }
        #[cfg(feature = "tls")]
        if let Some(t) = opts.tls.clone() {
            b = b.tls(t);
        }
        let server = b.bind(addr).await?;
        Ok(GatewayServer { server, run })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server underneath (statistics, registry, limits).
    pub fn server(&self) -> &ServerHandle<P::Pdu> {
        &self.server
    }

    /// What the sessions share.
    pub fn shared(&self) -> &Arc<ServerShared<P::Allowed>> {
        &self.run.shared
    }

    /// Reports dropped because a session's backlog of unanswered ones was full.
    pub fn reports_dropped(&self) -> u64 {
        self.run.reports_dropped.load(Ordering::Relaxed)
    }

    /// The connections logged in as `account`.
    pub fn connections(&self, account: &str) -> Vec<Conn<P::Pdu>> {
        self.server.registry().user(account)
    }

    /// Sends an MO message to every connection of `account` logged in to receive;
    /// returns how many took it (it goes out; [`ServerEvent::MoSent`] says when it was
    /// answered).
    pub async fn push_mo(&self, account: &str, from: &str, to: &str, text: &str) -> usize {
        let mut n = 0;
        for conn in self.connections(account) {
            let sent = self
                .run
                .with_session(&conn, |s| s.push_mo(now(), from, to, text))
                .await;
            n += usize::from(sent.is_some());
        }
        n
    }

    /// Sends an MO message to `conn`, split into parts when long, and waits until every
    /// part was answered; returns how many parts it took.
    ///
    /// # Errors
    /// When the connection does not receive, a part went unanswered, or it closed.
    pub async fn push_mo_to(
        &self,
        conn: &Conn<P::Pdu>,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<usize, MoError> {
        let (tx, rx) = oneshot::channel();
        let run = self.run.clone();
        let sent = self
            .run
            .with_session(conn, |s| {
                let sent = s.push_mo(now(), from, to, text);
                if let Some((mo, _)) = sent {
                    // registered before anything is written: the answer cannot come first
                    lock(&run.mo_waiters).insert((conn.id(), mo), tx);
                }
                sent
            })
            .await;
        let (_, parts) = sent.ok_or(MoError::NotReceiving)?;
        match rx.await {
            Ok(true) => Ok(parts),
            Ok(false) => Err(MoError::Unanswered),
            Err(_) => Err(MoError::Closed),
        }
    }

    /// Logs out every connection of `account` (the protocol's logout request, waiting up
    /// to `wait` for each answer) and closes them; returns how many there were.
    pub async fn logout(&self, account: &str, wait: Duration) -> usize {
        let conns = self.connections(account);
        for c in &conns {
            let (tx, rx) = oneshot::channel();
            lock(&self.run.logout_waiters).insert(c.id(), tx);
            self.run.with_session(c, ServerSession::logout).await;
            let _ = tokio::time::timeout(wait, rx).await;
            lock(&self.run.logout_waiters).remove(&c.id());
            c.close(CloseReason::Kicked);
        }
        conns.len()
    }

    /// Stops: no new connections, every queue written (for up to `deadline`),
    /// connections closed; the statistics after the close.
    pub async fn shutdown(self, deadline: Duration) -> StatsSnapshot {
        self.server.shutdown(deadline).await
    }
}
