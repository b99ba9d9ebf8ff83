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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use packwire_codecs::smpp::{Coding, LongMode, Pdu, Sm, SmppCodec, split_sm};
use packwire_core::EncodeError;
use packwire_net::{Backoff, Conn, ServerHandle, StatsSnapshot};
use tokio::net::ToSocketAddrs;
use tokio::sync::mpsc;

pub use crate::session::smpp::{BindKind, Esme, SmscProtocol};
use crate::session::{
    ClientConfig, EVENT_BUFFER, GatewayClient, GatewayServer, RequestId, ServeOptions,
    ServerShared, SmscConfig, SmscEvent,
};

/// An ESME's connection to an SMSC.
pub type EsmeClient = GatewayClient<Esme>;

/// Connects `esme` to the SMSC at `nodes` (tried in turn, reconnecting with the default
/// back-off: 200 ms doubling to 30 s) and binds; submits queue until the bind is
/// accepted.
pub fn connect(nodes: &[SocketAddr], esme: Esme, cfg: ClientConfig) -> EsmeClient {
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    GatewayClient::start(SmppCodec::new, nodes, backoff, esme, cfg)
}

/// As [`connect`], over TLS.
#[cfg(feature = "tls")]
pub fn connect_tls(
    nodes: &[SocketAddr],
    esme: Esme,
    cfg: ClientConfig,
    tls: packwire_net::tls::TlsConnector,
) -> EsmeClient {
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    GatewayClient::start_tls(SmppCodec::new, nodes, backoff, esme, cfg, Some(tls))
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

/// An SMSC simulator: accounts, message ids, delivery receipts, MO pushes, its own rate
/// — [`GatewayServer`] with [`SmscProtocol`].
pub struct Smsc {
    server: GatewayServer<SmscProtocol>,
    events: tokio::sync::Mutex<mpsc::Receiver<SmscEvent>>,
    dropped_events: Arc<AtomicU64>,
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
        Smsc::bind_with(addr, cfg, SmscProtocol::new(0)).await
    }

    /// Listens on `addr`, each session speaking as `protocol` says (its system_id,
    /// whether it is strict), with message ids of its own.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind_with(
        addr: impl ToSocketAddrs,
        cfg: SmscConfig,
        protocol: SmscProtocol,
    ) -> io::Result<Smsc> {
        Smsc::bind_on(addr, cfg, protocol, ServeOptions::default()).await
    }

    /// As [`Smsc::bind_with`], serving TLS with `tls`.
    ///
    /// # Errors
    /// When the address cannot be bound.
    #[cfg(feature = "tls")]
    pub async fn bind_tls(
        addr: impl ToSocketAddrs,
        cfg: SmscConfig,
        protocol: SmscProtocol,
        tls: packwire_net::tls::TlsAcceptor,
    ) -> io::Result<Smsc> {
        let opts = ServeOptions {
            tls: Some(tls),
            ..ServeOptions::default()
        };
        Smsc::bind_on(addr, cfg, protocol, opts).await
    }

    async fn bind_on(
        addr: impl ToSocketAddrs,
        cfg: SmscConfig,
        protocol: SmscProtocol,
        base: ServeOptions<Pdu>,
    ) -> io::Result<Smsc> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let dropped_events = Arc::new(AtomicU64::new(0));
        let dropped = dropped_events.clone();
        let opts = ServeOptions {
            // SMPP has no login deadline of its own; a connection that never binds is
            // closed after this
            login_timeout: Duration::from_secs(60),
            queue: 64,
            ..base
        };
        let server = GatewayServer::bind(
            addr,
            SmppCodec::new,
            ServerShared::new(cfg),
            // each connection's message ids in a range of their own
            move |conn: &Conn<Pdu>| protocol.clone().ids_from(conn.id().0 << 24),
            move |_: &Conn<Pdu>, e| {
                if tx.try_send(e).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
            &opts,
        )
        .await?;
        Ok(Smsc {
            server,
            events: tokio::sync::Mutex::new(rx),
            dropped_events,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server underneath (statistics, registry, limits).
    pub fn server(&self) -> &ServerHandle<Pdu> {
        self.server.server()
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
        self.dropped_events.load(Ordering::Relaxed)
    }

    /// Pushes a mobile-originated `text` (deliver_sm, split by UDH when long) to every
    /// connection bound as `system_id` to receive (receiver or transceiver); returns how
    /// many.
    pub async fn push_mo(&self, system_id: &str, from: &str, to: &str, text: &str) -> usize {
        self.server.push_mo(system_id, from, to, text).await
    }

    /// Stops: no new connections, every queue written, connections closed.
    pub async fn shutdown(self) -> StatsSnapshot {
        self.server.shutdown(Duration::from_secs(5)).await
    }
}
