//! The SP side: log in (again after every reconnect), submit with automatic splitting and
//! flow-control retries, receive MO messages and status reports — the session layer's
//! [`GatewayClient`] with CMPP's [`Sp`], behind the API CMPP applications had before.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::cmpp::{
    CmppCodec, ConnectStatus, MsgFmt, MsgId, Pdu, Split, Submit, SubmitResult, UdhRef, Version,
    pick_format, split_text,
};
use tokio::sync::{mpsc, watch};

use super::{Direction, Traced};
use crate::session::cmpp::{BAD_AUTHENTICATOR, Sp, part_submits};
use crate::session::{ClientConfig, Event, GatewayClient, SendError};
use packwire_net::{Backoff, CallConfig, CallError};

/// How the SP client connects and behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SpConfig {
    /// The ISMG's addresses, tried in order (fail-over).
    pub nodes: Vec<SocketAddr>,
    /// The SP_Id (Source_Addr, 6 characters).
    pub account: String,
    /// The shared secret.
    pub secret: String,
    /// The version to log in with.
    pub version: Version,
    /// Src_Id of submits (the SP's number); default: the account.
    pub src_id: String,
    /// Service_Id of submits.
    pub service_id: String,
    /// A signature kept in every part of a split message.
    pub signature: Option<String>,
    /// Window, timeout and sends of every request (default CMPP's 16, 60 s, 3).
    pub calls: CallConfig,
    /// ACTIVE_TEST after this much silence; reconnect after that many unanswered.
    pub link_check: (Duration, u32),
    /// How long `connect` and each login may take.
    pub login_timeout: Duration,
    /// Retries of a SUBMIT answered with Result 8 (flow control), and the first pause
    /// (doubling each time).
    pub flow_retries: (u32, Duration),
    /// Reconnect back-off.
    pub backoff: Backoff,
    /// Check the ISMG's AuthenticatorISMG (either status width). Default true.
    pub verify_ismg: bool,
    /// Copy every PDU decoded and encoded to [`SpClient::next_trace`].
    pub trace: bool,
    /// Connect over TLS with this.
    #[cfg(feature = "tls")]
    pub tls: Option<packwire_net::tls::TlsConnector>,
}

impl SpConfig {
    /// Defaults for one ISMG.
    pub fn new(addr: SocketAddr, account: &str, secret: &str, version: Version) -> Self {
        SpConfig {
            nodes: vec![addr],
            account: account.to_owned(),
            secret: secret.to_owned(),
            version,
            src_id: account.to_owned(),
            service_id: String::new(),
            signature: None,
            calls: CallConfig::default(),
            link_check: (Duration::from_secs(180), 3),
            login_timeout: Duration::from_secs(10),
            flow_retries: (5, Duration::from_millis(200)),
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            verify_ismg: true,
            trace: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Connects over TLS.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, connector: packwire_net::tls::TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// Another ISMG to fail over to.
    pub fn node(mut self, addr: SocketAddr) -> Self {
        self.nodes.push(addr);
        self
    }

    /// Window, timeout and sends of every request.
    pub fn calls(mut self, cfg: CallConfig) -> Self {
        self.calls = cfg;
        self
    }

    /// Reconnect back-off.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retries of Result 8 and the first pause.
    pub fn flow_retries(mut self, retries: u32, first_pause: Duration) -> Self {
        self.flow_retries = (retries, first_pause);
        self
    }

    /// The Src_Id of submits.
    pub fn src_id(mut self, src_id: &str) -> Self {
        self.src_id = src_id.to_owned();
        self
    }

    /// Copies every PDU to [`SpClient::next_trace`].
    pub fn trace(mut self) -> Self {
        self.trace = true;
        self
    }
}

/// Why an SP operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpError {
    /// The ISMG refused the login with this status.
    Login(ConnectStatus),
    /// The ISMG's AuthenticatorISMG did not match (it does not know our secret).
    BadAuthenticator,
    /// No logged-in connection within the login timeout.
    NotConnected,
    /// A request failed (timed out after its sends, connection closed).
    Call(CallError),
    /// The ISMG refused a SUBMIT with this Result.
    Rejected(SubmitResult),
    /// Still flow-controlled (Result 8) after every retry.
    FlowControl,
    /// The message cannot be encoded (text not representable, too many parts).
    Encode(String),
    /// The ISMG answered with an unexpected PDU.
    Unexpected(String),
}

impl fmt::Display for SpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpError::Login(s) => write!(f, "login refused: status {s}"),
            SpError::BadAuthenticator => f.write_str("the ISMG's authenticator does not match"),
            SpError::NotConnected => f.write_str("not logged in"),
            SpError::Call(e) => write!(f, "{e}"),
            SpError::Rejected(r) => write!(f, "submit refused: result {r}"),
            SpError::FlowControl => f.write_str("flow control: gave up after the retries"),
            SpError::Encode(e) => write!(f, "cannot encode the message: {e}"),
            SpError::Unexpected(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

impl std::error::Error for SpError {}

/// A message to send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outgoing {
    /// Destination numbers (1 to 99: a group send).
    pub to: Vec<String>,
    /// The text.
    pub text: String,
    /// The format; by default the narrowest that holds the text (ASCII, else UCS2).
    pub fmt: Option<MsgFmt>,
    /// Ask for a status report.
    pub report: bool,
}

impl Outgoing {
    /// A text to one number.
    pub fn text(to: &str, text: &str) -> Self {
        Outgoing {
            to: vec![to.to_owned()],
            text: text.to_owned(),
            fmt: None,
            report: false,
        }
    }

    /// A text to several numbers (one SUBMIT per part, Msg_Ids consecutive per number).
    pub fn group(to: &[&str], text: &str) -> Self {
        Outgoing {
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            ..Outgoing::text("", text)
        }
    }

    /// Asks for status reports.
    pub fn with_report(mut self) -> Self {
        self.report = true;
        self
    }

    /// Uses this format (e.g. [`MsgFmt::GBK`]).
    pub fn format(mut self, fmt: MsgFmt) -> Self {
        self.fmt = Some(fmt);
        self
    }
}

/// Something the ISMG delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// A message from a phone (reassembled when it came in parts).
    Mo {
        /// The sender.
        from: String,
        /// The SP number it was sent to.
        to: String,
        /// The text, when the format is a text format.
        text: Option<String>,
        /// How many parts it came in.
        parts: usize,
    },
    /// A status report on a submitted message.
    Report {
        /// The Msg_Id the SUBMIT_RESP gave.
        msg_id: MsgId,
        /// `DELIVRD`, `EXPIRED`, ...
        stat: String,
        /// The destination number.
        dest: String,
    },
}

/// Deliveries that may wait unread; past them, newer ones are dropped (and counted by
/// [`SpClient::deliveries_dropped`]).
const DELIVERY_BUFFER: usize = 4096;

/// An SP's connection to an ISMG: logs in on every (re)connect, keeps the link checked,
/// and offers [`SpClient::submit`] and the deliveries. It is the session layer's
/// [`GatewayClient`] speaking [`Sp`] (the same session an SMPP ESME runs), configured
/// from an [`SpConfig`].
///
/// ```no_run
/// use std::time::Duration;
/// use packwire_codecs::cmpp::Version;
/// use packwire_sms::cmpp::{Outgoing, SpClient, SpConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = SpConfig::new("127.0.0.1:7890".parse()?, "901234", "s3cret", Version::V30);
/// let sp = SpClient::connect(cfg).await?;
/// // a long text goes in parts; each part's Msg_Id comes back
/// let ids = sp.submit(&Outgoing::text("13800138000", "hello").with_report()).await?;
/// if let Some(stat) = sp.report_for(ids[0], Duration::from_secs(30)).await {
///     println!("{stat}"); // DELIVRD, EXPIRED, ...
/// }
/// sp.terminate().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SpClient {
    gateway: Arc<GatewayClient<Sp>>,
    cfg: SpConfig,
    udh_ref: AtomicU8,
    deliveries: tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
    trace: tokio::sync::Mutex<mpsc::Receiver<(Direction, Pdu)>>,
    events: tokio::task::JoinHandle<()>,
}

fn text_of(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The session's settings for an SP configuration.
fn session_config(cfg: &SpConfig) -> ClientConfig {
    let (retries, pause) = cfg.flow_retries;
    ClientConfig {
        window: cfg.calls.window,
        tps: None,
        response_timeout: cfg.calls.timeout,
        max_tries: cfg.calls.max_sends,
        login_timeout: cfg.login_timeout,
        link_check_after: cfg.link_check.0,
        // CMPP's C and N: another ACTIVE_TEST after each silent interval, N in all
        link_check_timeout: Some(cfg.link_check.0),
        link_check_tries: cfg.link_check.1.max(1),
        backoff: pause,
        max_backoff: pause.saturating_mul(1 << retries.min(16)),
        max_throttled: Some(retries),
    }
}

impl SpClient {
    /// Connects and logs in; resolves once the first login succeeded, or with why it
    /// failed. After that the client reconnects and logs in again by itself.
    ///
    /// # Errors
    /// [`SpError::Login`] with the ISMG's status, [`SpError::BadAuthenticator`],
    /// [`SpError::NotConnected`] when nothing answered within the login timeout.
    pub async fn connect(cfg: SpConfig) -> Result<SpClient, SpError> {
        let (trace_tx, trace) = mpsc::channel(super::TRACE_BUFFER);
        let version = cfg.version;
        let trace_tx = cfg.trace.then_some(trace_tx);
        let make = move || Traced {
            inner: CmppCodec::new(version),
            trace: trace_tx.clone(),
        };
        let mut sp = Sp::new(cfg.account.clone(), cfg.secret.clone(), version);
        sp.verify_ismg = cfg.verify_ismg;
        #[cfg(feature = "tls")]
        let gateway = Arc::new(GatewayClient::start_tls(
            make,
            &cfg.nodes,
            cfg.backoff.clone(),
            sp,
            session_config(&cfg),
            cfg.tls.clone(),
        ));
        #[cfg(not(feature = "tls"))]
        let gateway = Arc::new(GatewayClient::start(
            make,
            &cfg.nodes,
            cfg.backoff.clone(),
            sp,
            session_config(&cfg),
        ));
        let (first_tx, mut first) = watch::channel(None);
        let (tx, deliveries) = mpsc::channel(DELIVERY_BUFFER);
        let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let events = tokio::spawn(pass_on(gateway.clone(), first_tx, tx, dropped.clone()));
        let outcome =
            tokio::time::timeout(cfg.login_timeout, first.wait_for(Option::is_some)).await;
        let result = match outcome {
            Ok(Ok(v)) => v.clone().unwrap_or(Err(SpError::NotConnected)),
            _ => Err(SpError::NotConnected),
        };
        let sp = SpClient {
            gateway,
            cfg,
            udh_ref: AtomicU8::new(1),
            deliveries: tokio::sync::Mutex::new(deliveries),
            dropped,
            trace: tokio::sync::Mutex::new(trace),
            events,
        };
        match result {
            Ok(()) => Ok(sp),
            Err(e) => {
                sp.stop(Duration::ZERO).await;
                Err(e)
            }
        }
    }

    /// Whether a logged-in connection is up now.
    pub fn is_logged_in(&self) -> bool {
        self.gateway.is_logged_in()
    }

    /// Resolves once no logged-in connection has been up for `grace`: the ISMG went
    /// away and did not take the client back in that time (the client keeps trying).
    pub async fn lost(&self, grace: Duration) {
        self.gateway.lost(grace).await;
    }

    /// Sends a message: split into parts when long (a 8-bit reference; every part keeps
    /// the signature), one SUBMIT per part, each retried on Result 8 with a doubling
    /// pause. A SUBMIT whose connection dropped before its SUBMIT_RESP is sent again
    /// after the next login, up to the calls' `max_sends` times (at least once delivery:
    /// the ISMG may see it twice). Returns each part's Msg_Id (for a group send, the first
    /// of the part's consecutive ids, one per destination in order).
    ///
    /// # Errors
    /// [`SpError::Rejected`] with the ISMG's Result, [`SpError::FlowControl`] after the
    /// retries, [`SpError::Call`] when a SUBMIT got no answer, [`SpError::NotConnected`]
    /// when no login came in time, [`SpError::Encode`].
    pub async fn submit(&self, msg: &Outgoing) -> Result<Vec<MsgId>, SpError> {
        let cfg = &self.cfg;
        let fmt = msg.fmt.unwrap_or_else(|| pick_format(&msg.text));
        let reference = UdhRef::Eight(self.udh_ref.fetch_add(1, Ordering::Relaxed));
        let parts = split_text(
            &msg.text,
            &Split {
                fmt,
                reference,
                signature: cfg.signature.as_deref(),
            },
        )
        .map_err(|e| SpError::Encode(e.to_string()))?;
        let template = Submit {
            registered_delivery: u8::from(msg.report),
            service_id: Bytes::copy_from_slice(cfg.service_id.as_bytes()),
            msg_fmt: fmt.0,
            msg_src: Bytes::copy_from_slice(cfg.account.as_bytes()),
            fee_type: Bytes::from_static(b"01"),
            src_id: Bytes::copy_from_slice(cfg.src_id.as_bytes()),
            dest_terminal_ids: msg
                .to
                .iter()
                .map(|t| Bytes::copy_from_slice(t.as_bytes()))
                .collect(),
            ..Submit::default()
        };
        let submits = part_submits(parts, &template);
        let n = submits.len() as u32;
        let sends = cfg.calls.max_sends;
        let (retries, pause) = cfg.flow_retries;
        // a login, every part's sends, and the flow-control pauses
        let wait = cfg
            .login_timeout
            .saturating_add(cfg.calls.timeout.saturating_mul(sends.saturating_mul(n)))
            .saturating_add(pause.saturating_mul(2u32.saturating_pow(retries.min(16) + 1)));
        match self.gateway.submit_wait(submits, wait).await {
            Ok(ids) => ids
                .iter()
                .map(|id| {
                    std::str::from_utf8(id)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .map(MsgId)
                        .ok_or_else(|| SpError::Unexpected(text_of(id)))
                })
                .collect(),
            Err(SendError::Rejected(r)) if SubmitResult(r) == SubmitResult::FLOW_CONTROL => {
                Err(SpError::FlowControl)
            }
            Err(SendError::Rejected(r)) => Err(SpError::Rejected(SubmitResult(r))),
            Err(SendError::NoAnswer) if !self.is_logged_in() => Err(SpError::NotConnected),
            Err(SendError::NoAnswer | SendError::TimedOut) => {
                Err(SpError::Call(CallError::TimedOut { sends }))
            }
            Err(SendError::Encode(e)) => Err(SpError::Encode(e)),
            Err(_) => Err(SpError::NotConnected),
        }
    }

    /// The next MO message or status report (acknowledged already; at most 4096 wait
    /// unread, newer ones are dropped and counted).
    pub async fn next_delivery(&self) -> Option<Delivery> {
        self.deliveries.lock().await.recv().await
    }

    /// Deliveries dropped because nobody read them.
    pub fn deliveries_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed) + self.gateway.dropped_events()
    }

    /// The Stat of the report on `msg_id`, waiting up to `wait` — also when the report
    /// came before the submit returned.
    pub async fn report_for(&self, msg_id: MsgId, wait: Duration) -> Option<String> {
        let id = msg_id.0.to_string();
        let r = self.gateway.report_for(id.as_bytes(), wait).await?;
        Some(text_of(&r.stat))
    }

    /// The next traced PDU (with [`SpConfig::trace`]; at most
    /// [`super::TRACE_BUFFER`] wait unread).
    pub async fn next_trace(&self) -> Option<(Direction, Pdu)> {
        self.trace.lock().await.recv().await
    }

    /// Sends TERMINATE (waiting briefly for its answer) and stops.
    pub async fn terminate(self) {
        self.stop(Duration::from_secs(5)).await;
    }

    async fn stop(self, grace: Duration) {
        self.events.abort();
        // the task holds the other reference until it has stopped
        let _ = self.events.await;
        if let Ok(g) = Arc::try_unwrap(self.gateway) {
            g.shutdown(grace).await;
        }
    }
}

/// Passes the session's events on: the first login's outcome to `connect`, reports and
/// MO messages as deliveries.
async fn pass_on(
    gateway: Arc<GatewayClient<Sp>>,
    first: watch::Sender<Option<Result<(), SpError>>>,
    deliveries: mpsc::Sender<Delivery>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
) {
    let settle = |outcome: Result<(), SpError>| {
        first.send_if_modified(|v| {
            let unset = v.is_none();
            if unset {
                *v = Some(outcome);
            }
            unset
        });
    };
    while let Some(e) = gateway.next_event().await {
        let d = match e {
            Event::LoggedIn => {
                settle(Ok(()));
                continue;
            }
            Event::LoginRefused(BAD_AUTHENTICATOR) => {
                tracing::warn!("CMPP login: the ISMG's authenticator does not match");
                settle(Err(SpError::BadAuthenticator));
                continue;
            }
            Event::LoginRefused(code) => {
                tracing::warn!(status = %ConnectStatus(code), "CMPP login refused");
                settle(Err(SpError::Login(ConnectStatus(code))));
                continue;
            }
            Event::Report(r) => Delivery::Report {
                msg_id: MsgId(text_of(&r.id).parse().unwrap_or(0)),
                stat: text_of(&r.stat),
                dest: text_of(&r.to),
            },
            Event::Mo(m) => Delivery::Mo {
                from: text_of(&m.from),
                to: text_of(&m.to),
                text: m.text,
                parts: m.parts,
            },
            _ => continue,
        };
        if deliveries.try_send(d).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
