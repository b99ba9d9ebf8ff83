//! SMPP 3.4 on the runtime: an ESME client ([`connect`]) and an SMSC simulator
//! ([`Smsc`]), both the sans-IO sessions of [`crate::session`] driven by packwire-net.
//!
//! ```no_run
//! use packwire_sms::smpp::{self, Smsc};
//! use packwire_sms::session::{Account, ClientConfig, Event, SmscConfig};
//! use packwire_codecs::smpp::{Address, Sm};
//!
//! # async fn run() -> std::io::Result<()> {
//! let smsc = Smsc::bind("127.0.0.1:0", SmscConfig::new(vec![Account::new("esme01", "secret")])).await?;
//! let esme = smpp::connect(&[smsc.local_addr()], smpp::Esme::transceiver("esme01", "secret"), ClientConfig::default());
//! esme.submit(Sm::new(Address::new("10086"), Address::new("13800138000"), 0, "hello"));
//! while let Some(e) = esme.next_event().await {
//!     if let Event::Accepted { id, .. } = e {
//!         println!("message id {id:?}");
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_codecs::smpp::{Address, Coding, LongMode, Pdu, Sm, SmppCodec, split_sm};
use packwire_core::EncodeError;
use packwire_net::{Backoff, CloseReason, Conn, Listener, Server, ServerHandle, StatsSnapshot};
use tokio::net::ToSocketAddrs;
use tokio::sync::{Notify, mpsc};

pub use crate::session::smpp::{BindKind, Esme};
use crate::session::{
    BindCounts, ClientConfig, EVENT_BUFFER, GatewayClient, RequestId, SmscConfig, SmscEvent,
    SmscSession,
};

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// An ESME's connection to an SMSC.
pub type EsmeClient = GatewayClient<Esme>;

/// Connects `esme` to the SMSC at `nodes` (tried in turn, reconnecting with the default
/// back-off: 200 ms doubling to 30 s) and binds; submits queue until the bind is
/// accepted.
pub fn connect(nodes: &[SocketAddr], esme: Esme, cfg: ClientConfig) -> EsmeClient {
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    GatewayClient::start(SmppCodec::new, nodes, backoff, esme, cfg)
}

impl GatewayClient<Esme> {
    /// Submits `text` from `template`'s addresses (its other fields copied into every
    /// part): one submit_sm when it fits, otherwise parts as `mode` says, in the most
    /// compact coding that carries it (GSM 7-bit, else UCS2). One request per part.
    ///
    /// # Errors
    /// When the text needs more than 255 parts.
    pub fn submit_text(
        &self,
        template: &Sm,
        text: &str,
        mode: LongMode,
    ) -> Result<Vec<RequestId>, EncodeError> {
        let parts = split_sm(text, Coding::pick(text), mode, template)?;
        Ok(parts.into_iter().map(|p| self.submit(p)).collect())
    }
}

/// One connection's gateway session and its receipt timer.
struct ConnSession {
    session: Mutex<SmscSession>,
    wake: Notify,
    timer: AtomicBool,
}

struct Shared {
    cfg: SmscConfig,
    counts: BindCounts,
    events: mpsc::Sender<SmscEvent>,
    dropped_events: AtomicU64,
}

impl Shared {
    /// Writes what `s` hands out to `conn`, passes its events on, and binds the
    /// connection to its system_id once bound.
    fn flush(&self, conn: &Conn<Pdu>, s: &mut SmscSession) {
        // events first: a connection is bound to its system_id before its bind_resp
        // goes, so an MO pushed once the ESME has its answer finds it
        while let Some(e) = s.poll_event() {
            match &e {
                SmscEvent::Bound(id) => {
                    if let Some(r) = conn.registry() {
                        r.bind_user(conn, &String::from_utf8_lossy(id));
                    }
                }
                SmscEvent::LinkLost => conn.close(CloseReason::IdleTimeout),
                _ => {}
            }
            if self.events.try_send(e).is_err() {
                self.dropped_events.fetch_add(1, Ordering::Relaxed);
            }
        }
        while let Some(p) = s.poll_transmit() {
            let _ = conn.try_send(p);
        }
    }
}

fn session_of(shared: &Shared, conn: &Conn<Pdu>) -> Arc<ConnSession> {
    if let Some(s) = conn.attr::<Arc<ConnSession>>() {
        return s;
    }
    // each connection's message ids in a range of their own
    let s = Arc::new(ConnSession {
        session: Mutex::new(
            SmscSession::new(shared.cfg.clone(), conn.id().0 << 24)
                .with_peer(conn.peer_addr().ip())
                .with_bind_counts(shared.counts.clone()),
        ),
        wake: Notify::new(),
        timer: AtomicBool::new(false),
    });
    conn.set_attr(s.clone());
    s
}

/// Runs a connection's receipts as they come due, until it closes.
fn start_timer(shared: Arc<Shared>, conn: Conn<Pdu>, cs: Arc<ConnSession>) {
    if cs.timer.swap(true, Ordering::AcqRel) {
        cs.wake.notify_one();
        return;
    }
    tokio::spawn(async move {
        while !conn.is_closed() {
            let due = cs
                .session
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .poll_timeout();
            let wake = cs.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            // a closed connection is looked at again at least once a second
            let t = due.unwrap_or_else(|| now() + Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep_until(t.into()) => {}
                _ = &mut wake => {}
            }
            let mut s = cs.session.lock().unwrap_or_else(PoisonError::into_inner);
            s.handle_timeout(now());
            shared.flush(&conn, &mut s);
        }
    });
}

/// Gives a closing connection's bind back to its account at once.
struct Closed;

impl Listener<Pdu> for Closed {
    fn on_before_close(&self, conn: &Conn<Pdu>, _reason: &CloseReason) {
        if let Some(cs) = conn.attr::<Arc<ConnSession>>() {
            cs.session
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .closed();
        }
    }
}

/// An SMSC simulator: accounts, message ids, delivery receipts, MO pushes, its own rate.
pub struct Smsc {
    server: ServerHandle<Pdu>,
    shared: Arc<Shared>,
    events: tokio::sync::Mutex<mpsc::Receiver<SmscEvent>>,
}

impl std::fmt::Debug for Smsc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smsc")
            .field("local_addr", &self.server.local_addr())
            .finish_non_exhaustive()
    }
}

impl Smsc {
    /// Listens on `addr`.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs, cfg: SmscConfig) -> io::Result<Smsc> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            cfg,
            counts: BindCounts::default(),
            events: tx,
            dropped_events: AtomicU64::new(0),
        });
        let st = shared.clone();
        let server = Server::builder_sync(SmppCodec::new, move |conn: &Conn<Pdu>, pdu: Pdu| {
            let cs = session_of(&st, conn);
            let due = {
                let mut s = cs.session.lock().unwrap_or_else(PoisonError::into_inner);
                s.handle(now(), &pdu);
                st.flush(conn, &mut s);
                s.poll_timeout().is_some()
            };
            if due {
                start_timer(st.clone(), conn.clone(), cs);
            }
        })
        .listener(Closed)
        .bind(addr)
        .await?;
        Ok(Smsc {
            server,
            shared,
            events: tokio::sync::Mutex::new(rx),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server underneath (statistics, registry, limits).
    pub fn server(&self) -> &ServerHandle<Pdu> {
        &self.server
    }

    /// The next event (`None` once stopped).
    pub async fn next_event(&self) -> Option<SmscEvent> {
        self.events.lock().await.recv().await
    }

    /// An event if one is waiting.
    pub fn try_event(&self) -> Option<SmscEvent> {
        self.events.try_lock().ok()?.try_recv().ok()
    }

    /// Events dropped because nobody read them.
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped_events.load(Ordering::Relaxed)
    }

    /// Pushes a mobile-originated message to every connection bound as `system_id` to
    /// receive (receiver or transceiver); returns how many.
    pub fn push_mo(
        &self,
        system_id: &str,
        from: Address,
        to: Address,
        text: impl Into<Bytes>,
    ) -> usize {
        let text = text.into();
        let mut n = 0;
        for conn in &self.server.registry().user(system_id) {
            let cs = session_of(&self.shared, conn);
            let mut s = cs.session.lock().unwrap_or_else(PoisonError::into_inner);
            n += usize::from(s.push_mo(from.clone(), to.clone(), 0, text.clone()));
            self.shared.flush(conn, &mut s);
        }
        n
    }

    /// Stops: no new connections, every queue written, connections closed.
    pub async fn shutdown(self) -> StatsSnapshot {
        self.server.shutdown(Duration::from_secs(5)).await
    }
}
