//! The SP side: log in (again after every reconnect), submit with automatic splitting and
//! flow-control retries, receive MO messages and status reports.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_codecs::cmpp::{
    Body, CmppCodec, Connect, ConnectStatus, Deliver, DeliverResp, MsgFmt, MsgId, Pdu, Reassembler,
    Split, Submit, SubmitResult, UdhRef, Version, authenticator_source, pick_format, split_text,
    timestamp, verify_ismg,
};
use tokio::sync::{Notify, mpsc, watch};

use super::{Direction, Traced, beijing_now};
use packwire_net::{
    Backoff, CallConfig, CallError, Client, ClientHandle, CloseReason, Conn, Listener,
};

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
        }
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

const REPORTS_KEPT: usize = 65_536;

struct Shared {
    cfg: SpConfig,
    /// the logged-in connection, if any
    session: watch::Sender<Option<Conn<Pdu>>>,
    /// the outcome of the first login (for `connect`)
    first_login: watch::Sender<Option<Result<(), SpError>>>,
    deliveries: mpsc::Sender<Delivery>,
    reports: Mutex<HashMap<MsgId, String>>,
    report_arrived: Notify,
    reassembler: Mutex<Reassembler>,
    udh_ref: AtomicU8,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("account", &self.cfg.account)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text_of(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An SP's connection to an ISMG: logs in on every (re)connect, keeps the link checked,
/// and offers [`SpClient::submit`] and the deliveries.
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
    client: ClientHandle<Pdu>,
    shared: Arc<Shared>,
    deliveries: tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
    trace: tokio::sync::Mutex<mpsc::Receiver<(Direction, Pdu)>>,
}

struct Login(Arc<Shared>);

impl Listener<Pdu> for Login {
    fn on_connected(&self, conn: &Conn<Pdu>, _is_reconnect: bool) {
        let (shared, conn) = (self.0.clone(), conn.clone());
        tokio::spawn(async move {
            let outcome = login(&shared, &conn).await;
            match &outcome {
                Ok(()) => {
                    shared.session.send_replace(Some(conn.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "CMPP login failed");
                    conn.close(CloseReason::Kicked);
                }
            }
            shared.first_login.send_if_modified(|v| {
                if v.is_none() {
                    *v = Some(outcome);
                    true
                } else {
                    false
                }
            });
        });
    }

    fn on_before_close(&self, conn: &Conn<Pdu>, _reason: &CloseReason) {
        self.0.session.send_if_modified(|s| {
            if s.as_ref().is_some_and(|c| c.id() == conn.id()) {
                *s = None;
                true
            } else {
                false
            }
        });
    }
}

async fn login(shared: &Shared, conn: &Conn<Pdu>) -> Result<(), SpError> {
    let cfg = &shared.cfg;
    let (_, month, day, hour, minute, second) = beijing_now();
    let ts = timestamp(month, day, hour, minute, second);
    let auth = authenticator_source(cfg.account.as_bytes(), cfg.secret.as_bytes(), ts);
    let connect = Connect {
        source_addr: Bytes::copy_from_slice(cfg.account.as_bytes()),
        authenticator_source: auth,
        version: cfg.version,
        timestamp: ts,
    };
    let resp = tokio::time::timeout(
        cfg.login_timeout,
        conn.call(Pdu::new(0, Body::Connect(connect))),
    )
    .await
    .map_err(|_| SpError::Call(CallError::TimedOut { sends: 1 }))?
    .map_err(SpError::Call)?;
    let Body::ConnectResp(r) = resp.body else {
        return Err(SpError::Unexpected(format!("{:?}", resp.body.command_id())));
    };
    if r.status != ConnectStatus::OK {
        return Err(SpError::Login(r.status));
    }
    if cfg.verify_ismg
        && !verify_ismg(
            &r.authenticator_ismg,
            r.status.0,
            &auth,
            cfg.secret.as_bytes(),
        )
    {
        return Err(SpError::BadAuthenticator);
    }
    Ok(())
}

async fn on_pdu(shared: &Shared, conn: &Conn<Pdu>, pdu: Pdu) {
    let d = match pdu.body {
        Body::Deliver(d) => d,
        Body::Terminate => {
            // the ISMG ends the session: answer, close; the client logs in again later
            let _ = conn
                .respond(Pdu {
                    sequence_id: pdu.sequence_id,
                    body: Body::TerminateResp,
                })
                .await;
            conn.close(CloseReason::Kicked);
            return;
        }
        _ => return,
    };
    // never dropped: an unacknowledged DELIVER would be sent again
    let _ = conn
        .respond(Pdu {
            sequence_id: pdu.sequence_id,
            body: Body::DeliverResp(DeliverResp {
                msg_id: d.msg_id,
                result: SubmitResult::OK,
            }),
        })
        .await;
    let delivery = match d.report() {
        Some(Ok(r)) => {
            let stat = text_of(&r.stat);
            {
                let mut reports = lock(&shared.reports);
                if reports.len() >= REPORTS_KEPT {
                    reports.clear();
                }
                reports.insert(r.msg_id, stat.clone());
            }
            shared.report_arrived.notify_waiters();
            Delivery::Report {
                msg_id: r.msg_id,
                stat,
                dest: text_of(&r.dest_terminal_id),
            }
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "a status report that does not parse");
            return;
        }
        None => {
            let Deliver {
                src_terminal_id,
                dest_id,
                msg_fmt,
                tp_udhi,
                msg_content,
                ..
            } = *d;
            let whole = lock(&shared.reassembler).push(
                Instant::now(),
                &src_terminal_id,
                &dest_id,
                msg_fmt,
                tp_udhi,
                &msg_content,
            );
            let Some(w) = whole else { return };
            Delivery::Mo {
                from: text_of(&src_terminal_id),
                to: text_of(&dest_id),
                text: w.text,
                parts: w.parts.len(),
            }
        }
    };
    // waits when the application does not keep up: the connection stops reading
    let _ = shared.deliveries.send(delivery).await;
}

impl SpClient {
    /// Connects and logs in; resolves once the first login succeeded, or with why it
    /// failed. After that the client reconnects and logs in again by itself.
    ///
    /// # Errors
    /// [`SpError::Login`] with the ISMG's status, [`SpError::BadAuthenticator`],
    /// [`SpError::NotConnected`] when nothing answered within the login timeout.
    pub async fn connect(cfg: SpConfig) -> Result<SpClient, SpError> {
        let (deliveries_tx, deliveries) = mpsc::channel(4096);
        let (trace_tx, trace) = mpsc::channel(super::TRACE_BUFFER);
        let shared = Arc::new(Shared {
            session: watch::Sender::new(None),
            first_login: watch::Sender::new(None),
            deliveries: deliveries_tx,
            reports: Mutex::new(HashMap::new()),
            report_arrived: Notify::new(),
            reassembler: Mutex::new(Reassembler::new(Duration::from_secs(600), 10_000)),
            udh_ref: AtomicU8::new(1),
            cfg,
        });
        let version = shared.cfg.version;
        let trace_tx = shared.cfg.trace.then_some(trace_tx);
        let make = move || Traced {
            inner: CmppCodec::new(version),
            trace: trace_tx.clone(),
        };
        let st = shared.clone();
        let mut builder = Client::builder(make, move |conn: Conn<Pdu>, pdu: Pdu| {
            let st = st.clone();
            async move { on_pdu(&st, &conn, pdu).await }
        })
        .calls(shared.cfg.calls)
        .link_check(shared.cfg.link_check.0, shared.cfg.link_check.1)
        .backoff(shared.cfg.backoff.clone())
        .connect_timeout(shared.cfg.login_timeout)
        .listener(Login(shared.clone()));
        for n in &shared.cfg.nodes {
            builder = builder.node(*n);
        }
        let client = builder.start();
        let mut first = shared.first_login.subscribe();
        let outcome =
            tokio::time::timeout(shared.cfg.login_timeout, first.wait_for(Option::is_some)).await;
        let result = match outcome {
            Ok(Ok(v)) => v.clone().unwrap_or(Err(SpError::NotConnected)),
            _ => Err(SpError::NotConnected),
        };
        let sp = SpClient {
            client,
            shared,
            deliveries: tokio::sync::Mutex::new(deliveries),
            trace: tokio::sync::Mutex::new(trace),
        };
        match result {
            Ok(()) => Ok(sp),
            Err(e) => {
                sp.client.shutdown().await;
                Err(e)
            }
        }
    }

    /// Whether a logged-in connection is up now.
    pub fn is_logged_in(&self) -> bool {
        self.shared.session.borrow().is_some()
    }

    /// Resolves once no logged-in connection has been up for `grace`: the ISMG went
    /// away and did not take the client back in that time (the client keeps trying).
    pub async fn lost(&self, grace: Duration) {
        let mut rx = self.shared.session.subscribe();
        loop {
            if rx.wait_for(Option::is_none).await.is_err() {
                return; // the client stopped
            }
            let back = tokio::time::timeout(grace, rx.wait_for(Option::is_some)).await;
            if !matches!(back, Ok(Ok(_))) {
                return;
            }
        }
    }

    /// The logged-in connection, waiting up to the login timeout for one.
    async fn session(&self) -> Result<Conn<Pdu>, SpError> {
        let mut rx = self.shared.session.subscribe();
        let r = tokio::time::timeout(
            self.shared.cfg.login_timeout,
            rx.wait_for(|s| s.as_ref().is_some_and(|c| !c.is_closed())),
        )
        .await;
        match r {
            Ok(Ok(c)) => c.clone().ok_or(SpError::NotConnected),
            _ => Err(SpError::NotConnected),
        }
    }

    /// Sends a message: split into parts when long (a 8-bit reference; every part keeps
    /// the signature), one SUBMIT per part, each retried on Result 8 with a doubling
    /// pause. A SUBMIT whose connection dropped before its SUBMIT_RESP is sent again
    /// after the next login, up to the calls' `max_sends` times (at least once delivery:
    /// the ISMG may see it twice). Returns each part's Msg_Id (for a group send, the first of the part's
    /// consecutive ids, one per destination in order).
    ///
    /// # Errors
    /// [`SpError::Rejected`] with the ISMG's Result, [`SpError::FlowControl`] after the
    /// retries, [`SpError::Call`] when a SUBMIT got no answer, [`SpError::Encode`].
    pub async fn submit(&self, msg: &Outgoing) -> Result<Vec<MsgId>, SpError> {
        let cfg = &self.shared.cfg;
        let fmt = msg.fmt.unwrap_or_else(|| pick_format(&msg.text));
        let reference = UdhRef::Eight(self.shared.udh_ref.fetch_add(1, Ordering::Relaxed));
        let parts = split_text(
            &msg.text,
            &Split {
                fmt,
                reference,
                signature: cfg.signature.as_deref(),
            },
        )
        .map_err(|e| SpError::Encode(e.to_string()))?;
        let mut ids = Vec::with_capacity(parts.len());
        for p in parts {
            let submit = Submit {
                pk_total: p.pk_total,
                pk_number: p.pk_number,
                registered_delivery: u8::from(msg.report),
                service_id: Bytes::copy_from_slice(cfg.service_id.as_bytes()),
                tp_udhi: p.tp_udhi,
                msg_fmt: fmt.0,
                msg_src: Bytes::copy_from_slice(cfg.account.as_bytes()),
                fee_type: Bytes::from_static(b"01"),
                src_id: Bytes::copy_from_slice(cfg.src_id.as_bytes()),
                dest_terminal_ids: msg
                    .to
                    .iter()
                    .map(|t| Bytes::copy_from_slice(t.as_bytes()))
                    .collect(),
                msg_content: p.content,
                ..Submit::default()
            };
            ids.push(self.submit_one(submit).await?);
        }
        Ok(ids)
    }

    async fn submit_one(&self, submit: Submit) -> Result<MsgId, SpError> {
        let (retries, mut pause) = self.shared.cfg.flow_retries;
        let pdu = Pdu::new(0, Body::Submit(Box::new(submit)));
        for attempt in 0..=retries {
            let mut lost = 0;
            let resp = loop {
                let conn = self.session().await?;
                match conn.call(pdu.clone()).await {
                    Ok(r) => break r,
                    // not sent: the connection went away first; wait for the next login
                    Err(CallError::Send(packwire_net::SendError::Closed)) => {}
                    // sent, then the connection dropped before the answer: send it again
                    // after the next login (at least once: the ISMG may see it twice)
                    Err(CallError::Closed) if lost < self.shared.cfg.calls.max_sends => {
                        lost += 1;
                    }
                    Err(e) => return Err(SpError::Call(e)),
                }
            };
            let Body::SubmitResp(r) = resp.body else {
                return Err(SpError::Unexpected(format!("{:?}", resp.body.command_id())));
            };
            match r.result {
                SubmitResult::OK => return Ok(r.msg_id),
                SubmitResult::FLOW_CONTROL if attempt < retries => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                SubmitResult::FLOW_CONTROL => return Err(SpError::FlowControl),
                other => return Err(SpError::Rejected(other)),
            }
        }
        Err(SpError::FlowControl)
    }

    /// The next MO message or status report (acknowledged already).
    pub async fn next_delivery(&self) -> Option<Delivery> {
        self.deliveries.lock().await.recv().await
    }

    /// The Stat of the report on `msg_id`, waiting up to `wait` — also when the report
    /// came before the submit returned.
    pub async fn report_for(&self, msg_id: MsgId, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.shared.report_arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(s) = lock(&self.shared.reports).get(&msg_id) {
                return Some(s.clone());
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// The next traced PDU (with [`SpConfig::trace`]; at most
    /// [`super::TRACE_BUFFER`] wait unread).
    pub async fn next_trace(&self) -> Option<(Direction, Pdu)> {
        self.trace.lock().await.recv().await
    }

    /// Sends TERMINATE (waiting briefly for its answer) and stops.
    pub async fn terminate(self) {
        let conn = self.shared.session.borrow().clone();
        if let Some(conn) = conn {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                conn.call(Pdu::new(0, Body::Terminate)),
            )
            .await;
        }
        self.client.shutdown().await;
    }
}
