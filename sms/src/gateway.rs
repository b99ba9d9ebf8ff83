//! One SP-facing API for every protocol: an application sends [`Message`]s, gets the
//! gateway's message ids, waits for reports and reads MO messages the same way whether
//! the link is CMPP or SMPP — which one is a matter of configuration ([`Login`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use packwire_codecs::cmpp::Version;
//! use packwire_sms::gateway::{Gateway, GatewayConfig, Login};
//! use packwire_sms::session::{Message, cmpp::Sp, smpp::Esme};
//!
//! # async fn run(use_smpp: bool) -> Result<(), Box<dyn std::error::Error>> {
//! let login = if use_smpp {
//!     Login::Smpp(Esme::transceiver("esme01", "secret"))
//! } else {
//!     Login::Cmpp(Sp::new("901234", "secret", Version::V30))
//! };
//! let gw = Gateway::connect(GatewayConfig::new(vec!["127.0.0.1:7890".parse()?], login));
//! let msg = Message::new("13800138000", "hello").with_report();
//! let ids = gw.send_wait(&msg, Duration::from_secs(10)).await?;
//! for id in &ids {
//!     if let Some(r) = gw.report_for(id, Duration::from_secs(60)).await {
//!         println!("{id:?}: delivered {}", r.delivered);
//!     }
//! }
//! gw.shutdown(Duration::from_secs(2)).await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::cmpp::CmppCodec;
use packwire_codecs::smpp::SmppCodec;
use packwire_core::EncodeError;
use packwire_net::Backoff;

use crate::session::cmpp::Sp;
use crate::session::smpp::Esme;
use crate::session::{ClientConfig, Event, GatewayClient, Message, Report, RequestId, SendError};

/// Which protocol, with its login.
#[derive(Debug, Clone)]
pub enum Login {
    /// CMPP 2.0 / 3.0: an SP's account, secret and version.
    Cmpp(Sp),
    /// SMPP 3.4: an ESME's bind.
    Smpp(Esme),
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The gateway's addresses, tried in turn (fail-over).
    pub nodes: Vec<SocketAddr>,
    /// The protocol and its login.
    pub login: Login,
    /// Window, rate, timeouts, retries.
    pub session: ClientConfig,
    /// The pause between connection attempts.
    pub backoff: Backoff,
    /// Connect over TLS with this.
    #[cfg(feature = "tls")]
    pub tls: Option<packwire_net::tls::TlsConnector>,
}

impl GatewayConfig {
    /// `login` at `nodes`, the session defaults, reconnecting after 200 ms doubling to 30 s.
    pub fn new(nodes: Vec<SocketAddr>, login: Login) -> Self {
        GatewayConfig {
            nodes,
            login,
            session: ClientConfig::default(),
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// A connection to an SMS gateway in either protocol, with one API.
#[derive(Debug)]
pub enum Gateway {
    /// A CMPP SP.
    Cmpp(GatewayClient<Sp>),
    /// An SMPP ESME.
    Smpp(GatewayClient<Esme>),
}

/// The same call on either client.
macro_rules! each {
    ($g:expr, $c:ident => $e:expr) => {
        match $g {
            Gateway::Cmpp($c) => $e,
            Gateway::Smpp($c) => $e,
        }
    };
}

impl Gateway {
    /// Connects and logs in (and again after every disconnect); sends queue until then.
    pub fn connect(cfg: GatewayConfig) -> Gateway {
        #[cfg(feature = "tls")]
        let tls = cfg.tls.clone();
        #[cfg(not(feature = "tls"))]
        let tls = ();
        let GatewayConfig {
            nodes,
            login,
            session,
            backoff,
            ..
        } = cfg;
        match login {
            Login::Cmpp(sp) => {
                let v = sp.version;
                Gateway::Cmpp(GatewayClient::start_on(
                    move || CmppCodec::new(v),
                    &nodes,
                    backoff,
                    sp,
                    session,
                    tls,
                ))
            }
            Login::Smpp(esme) => Gateway::Smpp(GatewayClient::start_on(
                SmppCodec::new,
                &nodes,
                backoff,
                esme,
                session,
                tls,
            )),
        }
    }

    /// [`GatewayClient::send`].
    ///
    /// # Errors
    /// When the protocol cannot carry the text.
    pub fn send(&self, msg: &Message) -> Result<Vec<RequestId>, EncodeError> {
        each!(self, c => c.send(msg))
    }

    /// [`GatewayClient::send_wait`]: the message ids, one per part.
    ///
    /// # Errors
    /// [`SendError`].
    pub async fn send_wait(&self, msg: &Message, wait: Duration) -> Result<Vec<Bytes>, SendError> {
        each!(self, c => c.send_wait(msg, wait).await)
    }

    /// [`GatewayClient::report_for`].
    pub async fn report_for(&self, id: &[u8], wait: Duration) -> Option<Report> {
        each!(self, c => c.report_for(id, wait).await)
    }

    /// [`GatewayClient::next_event`]: login, answers to [`Gateway::send`], reports, MO.
    pub async fn next_event(&self) -> Option<Event> {
        each!(self, c => c.next_event().await)
    }

    /// Submits waiting, and sent but not answered.
    pub fn backlog(&self) -> (usize, usize) {
        each!(self, c => c.backlog())
    }

    /// [`GatewayClient::shutdown`].
    pub async fn shutdown(self, grace: Duration) {
        each!(self, c => c.shutdown(grace).await)
    }
}
