//! A [`ClientSession`] on the packwire-net runtime: one client connection (reconnected
//! and failed over by the runtime), the session fed every PDU and the time, a timer task
//! for its deadlines, its events on a bounded channel.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_core::EncodeError;
use packwire_net::{Backoff, Client, ClientHandle, CloseReason, Conn, Listener};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::{ClientConfig, ClientSession, Event, Message, Protocol, Report, RequestId};

/// A client's TLS, when the feature is on.
#[cfg(feature = "tls")]
pub(crate) type TlsOpt = Option<packwire_net::tls::TlsConnector>;
#[cfg(not(feature = "tls"))]
pub(crate) type TlsOpt = ();

/// Events that may wait unread before new ones are dropped (and counted).
pub const EVENT_BUFFER: usize = 10_000;

/// Delivery reports kept for [`GatewayClient::report_for`] (the oldest forgotten first).
const REPORTS_KEPT: usize = 65_536;

/// Why [`GatewayClient::send_wait`] has no message ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The protocol cannot carry the text.
    #[error("the message cannot be encoded: {0}")]
    Encode(String),
    /// The gateway refused a part with this status.
    #[error("the gateway refused the message with status {0:#x}")]
    Rejected(u32),
    /// A part went unanswered as often as the session sends it.
    #[error("the gateway did not answer")]
    TimedOut,
    /// Not every part was answered within the wait.
    #[error("no answer within the wait")]
    NoAnswer,
    /// The client stopped.
    #[error("the client stopped")]
    Stopped,
}

/// The reports that have arrived, by message id, for `report_for`.
#[derive(Default)]
struct Reports {
    by_id: HashMap<Bytes, Report>,
    order: VecDeque<Bytes>,
}

impl Reports {
    fn add(&mut self, r: &Report) {
        if self.by_id.insert(r.id.clone(), r.clone()).is_none() {
            self.order.push_back(r.id.clone());
        }
        while self.order.len() > REPORTS_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Shared<P: Protocol> {
    session: Mutex<ClientSession<P>>,
    conn: Mutex<Option<Conn<P::Pdu>>>,
    /// wakes the timer task when a deadline comes earlier than the one it sleeps for
    wake: Notify,
    /// what the timer task sleeps until (`None`: until woken)
    timer_at: Mutex<Option<Instant>>,
    events: mpsc::Sender<Event>,
    dropped_events: AtomicU64,
    unsent: AtomicU64,
    /// requests whose answer someone awaits: it goes to them, not to the event stream
    waiters: Mutex<HashMap<RequestId, oneshot::Sender<Event>>>,
    reports: Mutex<Reports>,
    report_arrived: Notify,
    /// whether the session is logged in now
    logged_in: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<P: Protocol> Shared<P>
where
    P::Pdu: Send + 'static,
{
    fn session(&self) -> std::sync::MutexGuard<'_, ClientSession<P>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what the session hands out and passes its events on, and wakes the timer
    /// task when the session's next deadline is earlier than the one it sleeps for (not
    /// on every PDU: the timer would take the session's lock as often as the traffic).
    fn flush(&self, s: &mut ClientSession<P>) {
        self.pass(s);
        if let Some(due) = s.poll_timeout() {
            let at = *lock(&self.timer_at);
            if at.is_none_or(|a| due < a) {
                self.wake.notify_one();
            }
        }
    }

    fn pass(&self, s: &mut ClientSession<P>) {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        while let Some(p) = s.poll_transmit() {
            let sent = conn.as_ref().is_some_and(|c| c.try_send(p).is_ok());
            if !sent {
                // the connection is gone or its queue full: what was unanswered is
                // requeued at the disconnect, answers are the peer's to ask again
                self.unsent.fetch_add(1, Ordering::Relaxed);
            }
        }
        while let Some(mut e) = s.poll_event() {
            // a refused login closes too: the runtime connects (and logs in) again later
            let lost = matches!(
                e,
                Event::LinkLost | Event::LoggedOut | Event::LoginRefused(_)
            );
            match e {
                Event::LoggedIn => {
                    self.logged_in.send_replace(true);
                }
                Event::LinkLost | Event::LoggedOut | Event::LoginRefused(_) => {
                    self.logged_in.send_replace(false);
                }
                _ => {}
            }
            let answered = match &e {
                Event::Accepted { request, .. } | Event::Rejected { request, .. } => Some(*request),
                Event::TimedOut(request) => Some(*request),
                Event::Report(r) => {
                    lock(&self.reports).add(r);
                    self.report_arrived.notify_waiters();
                    None
                }
                _ => None,
            };
            if let Some(w) = answered.and_then(|r| lock(&self.waiters).remove(&r)) {
                match w.send(e) {
                    Ok(()) => continue,
                    // the waiter gave up: the answer goes to the event stream
                    Err(back) => e = back,
                }
            }
            if self.events.try_send(e).is_err() {
                self.dropped_events.fetch_add(1, Ordering::Relaxed);
            }
            if lost {
                if let Some(c) = &conn {
                    c.close(CloseReason::Kicked);
                }
            }
        }
    }
}

struct Hooks<P: Protocol>(Arc<Shared<P>>);

impl<P> Listener<P::Pdu> for Hooks<P>
where
    P: Protocol + Send + 'static,
    P::Pdu: Send + Sync + 'static,
    P::Submit: Send,
{
    fn on_connected(&self, conn: &Conn<P::Pdu>, _is_reconnect: bool) {
        *self.0.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        let mut s = self.0.session();
        s.connected(now());
        self.0.flush(&mut s);
    }

    fn on_before_close(&self, conn: &Conn<P::Pdu>, _reason: &CloseReason) {
        let mut c = self.0.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if c.as_ref().is_some_and(|c| c.id() == conn.id()) {
            *c = None;
            drop(c);
            self.0.session().disconnected(now());
            self.0.logged_in.send_replace(false);
        }
    }
}

/// A gateway client: a [`ClientSession`] speaking `P` over a runtime connection.
pub struct GatewayClient<P: Protocol> {
    shared: Arc<Shared<P>>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    client: Option<ClientHandle<P::Pdu>>,
    timer: tokio::task::JoinHandle<()>,
}

impl<P: Protocol> std::fmt::Debug for GatewayClient<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient").finish_non_exhaustive()
    }
}

impl<P> GatewayClient<P>
where
    P: Protocol + Send + 'static,
    P::Pdu: Send + Sync + 'static,
    P::Submit: Send,
{
    /// Connects to `nodes` (in turn, with `backoff`) with codecs from `make` and runs a
    /// session of `protocol`; reconnects and logs in again by itself.
    pub fn start<C, F>(
        make: F,
        nodes: &[std::net::SocketAddr],
        backoff: Backoff,
        protocol: P,
        cfg: ClientConfig,
    ) -> Self
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: packwire_net::Codec<P::Pdu> + tokio_util::codec::Decoder<Item = P::Pdu> + Send + 'static,
    {
        Self::start_on(make, nodes, backoff, protocol, cfg, TlsOpt::default())
    }

    /// As [`GatewayClient::start`], over TLS with `tls` when given.
    #[cfg(feature = "tls")]
    pub fn start_tls<C, F>(
        make: F,
        nodes: &[std::net::SocketAddr],
        backoff: Backoff,
        protocol: P,
        cfg: ClientConfig,
        tls: Option<packwire_net::tls::TlsConnector>,
    ) -> Self
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: packwire_net::Codec<P::Pdu> + tokio_util::codec::Decoder<Item = P::Pdu> + Send + 'static,
    {
        Self::start_on(make, nodes, backoff, protocol, cfg, tls)
    }

    pub(crate) fn start_on<C, F>(
        make: F,
        nodes: &[std::net::SocketAddr],
        backoff: Backoff,
        protocol: P,
        cfg: ClientConfig,
        tls: TlsOpt,
    ) -> Self
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: packwire_net::Codec<P::Pdu> + tokio_util::codec::Decoder<Item = P::Pdu> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            session: Mutex::new(ClientSession::new(protocol, cfg)),
            conn: Mutex::new(None),
            wake: Notify::new(),
            timer_at: Mutex::new(None),
            events: tx,
            dropped_events: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            waiters: Mutex::new(HashMap::new()),
            reports: Mutex::new(Reports::default()),
            report_arrived: Notify::new(),
            logged_in: watch::Sender::new(false),
        });
        let st = shared.clone();
        let mut b = Client::builder_sync(make, move |_conn: &Conn<P::Pdu>, pdu: P::Pdu| {
            let mut s = st.session();
            s.handle(now(), &pdu);
            st.flush(&mut s);
        })
        .backoff(backoff)
        .listener(Hooks(shared.clone()));
        for n in nodes {
            b = b.node(*n);
        }
        #[cfg(feature = "tls")]
        if let Some(t) = tls {
            b = b.tls(t);
        }
        #[cfg(not(feature = "tls"))]
        let () = tls;
        let client = b.start();
        let st = shared.clone();
        let timer = tokio::spawn(async move {
            loop {
                let due = st.session().poll_timeout();
                *lock(&st.timer_at) = due;
                let wake = st.wake.notified();
                tokio::pin!(wake);
                // registered before the look at the deadline is acted on: a wake in
                // between is not lost
                wake.as_mut().enable();
                match due {
                    Some(t) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(t.into()) => {}
                            _ = &mut wake => {}
                        }
                    }
                    None => wake.await,
                }
                let mut s = st.session();
                s.handle_timeout(now());
                st.flush(&mut s);
            }
        });
        GatewayClient {
            shared,
            events: tokio::sync::Mutex::new(rx),
            client: Some(client),
            timer,
        }
    }

    /// Asks for a submit (queued until the session is logged in; window and rate apply).
    pub fn submit(&self, part: P::Submit) -> RequestId {
        let mut s = self.shared.session();
        let id = s.submit(now(), part);
        self.shared.flush(&mut s);
        id
    }

    /// Asks for the submits that carry `msg` (one request per part, window and rate
    /// apply); their answers come as events.
    ///
    /// # Errors
    /// When the protocol cannot carry the text (nothing is sent).
    pub fn send(&self, msg: &Message) -> Result<Vec<RequestId>, EncodeError> {
        let mut s = self.shared.session();
        let r = s.send(now(), msg);
        self.shared.flush(&mut s);
        r
    }

    /// Sends `msg` and waits up to `wait` for every part's answer: the gateway's message
    /// ids, one per part, in order (what its delivery reports will name). A throttled
    /// part is retried by the session within the wait. The answers do not also come as
    /// events.
    ///
    /// # Errors
    /// [`SendError`]: the text cannot be encoded, a part was refused or went unanswered,
    /// the wait ran out, or the client stopped.
    pub async fn send_wait(&self, msg: &Message, wait: Duration) -> Result<Vec<Bytes>, SendError> {
        let parts = self
            .shared
            .session()
            .protocol_mut()
            .parts(msg)
            .map_err(|e| SendError::Encode(e.to_string()))?;
        self.submit_wait(parts, wait).await
    }

    /// Submits `parts` (queued until logged in; window and rate apply) and waits up to
    /// `wait` for every answer: the gateway's ids, in order. On the first failure, parts
    /// not sent yet are taken back (none goes out after an error); when the wait runs
    /// out, those not sent yet are taken back too, and answers to the ones sent come as
    /// events.
    ///
    /// # Errors
    /// [`SendError`]: a part refused or unanswered, the wait ran out, the client stopped.
    pub async fn submit_wait(
        &self,
        parts: Vec<P::Submit>,
        wait: Duration,
    ) -> Result<Vec<Bytes>, SendError> {
        let (requests, answers): (Vec<RequestId>, Vec<oneshot::Receiver<Event>>) = {
            let mut s = self.shared.session();
            let t = now();
            let requests: Vec<RequestId> = parts.into_iter().map(|p| s.submit(t, p)).collect();
            // registered before any answer can be handled: that needs the session lock
            let mut w = lock(&self.shared.waiters);
            let rx = requests
                .iter()
                .map(|r| {
                    let (tx, rx) = oneshot::channel();
                    w.insert(*r, tx);
                    rx
                })
                .collect();
            drop(w);
            self.shared.flush(&mut s);
            (requests, rx)
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut ids = Vec::with_capacity(answers.len());
        for a in answers {
            let failed = match tokio::time::timeout_at(deadline, a).await {
                Ok(Ok(Event::Accepted { id, .. })) => {
                    ids.push(id);
                    continue;
                }
                Ok(Ok(Event::Rejected { status, .. })) => SendError::Rejected(status),
                Ok(Ok(_)) => SendError::TimedOut,
                Ok(Err(_)) => SendError::Stopped,
                Err(_) => SendError::NoAnswer,
            };
            let mut s = self.shared.session();
            let mut w = lock(&self.shared.waiters);
            for r in &requests[ids.len()..] {
                if s.cancel(*r) {
                    w.remove(r);
                }
            }
            return Err(failed);
        }
        Ok(ids)
    }

    /// Whether the session is logged in now.
    pub fn is_logged_in(&self) -> bool {
        *self.shared.logged_in.borrow()
    }

    /// Waits until logged in, up to `wait`; `false` when the wait ran out.
    pub async fn logged_in(&self, wait: Duration) -> bool {
        let mut rx = self.shared.logged_in.subscribe();
        matches!(
            tokio::time::timeout(wait, rx.wait_for(|v| *v)).await,
            Ok(Ok(_))
        )
    }

    /// Resolves once the session has not been logged in for `grace`: the gateway went
    /// away and did not take the client back in that time (the client keeps trying).
    pub async fn lost(&self, grace: Duration) {
        let mut rx = self.shared.logged_in.subscribe();
        loop {
            if rx.wait_for(|v| !*v).await.is_err() {
                return;
            }
            let back = tokio::time::timeout(grace, rx.wait_for(|v| *v)).await;
            if !matches!(back, Ok(Ok(_))) {
                return;
            }
        }
    }

    /// The delivery report on message `id`, waiting up to `wait` — also when it came
    /// before this call (the last 65,536 reports are kept). Reports also come
    /// as events.
    pub async fn report_for(&self, id: &[u8], wait: Duration) -> Option<Report> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.shared.report_arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(r) = lock(&self.shared.reports).by_id.get(id) {
                return Some(r.clone());
            }
            tokio::time::timeout_at(deadline, arrived).await.ok()?;
        }
    }

    /// The next event (`None` once the client has stopped).
    pub async fn next_event(&self) -> Option<Event> {
        self.events.lock().await.recv().await
    }

    /// Events dropped because nobody read them ([`EVENT_BUFFER`] wait at most).
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped_events.load(Ordering::Relaxed)
    }

    /// PDUs the session handed out while no connection could take them.
    pub fn unsent(&self) -> u64 {
        self.shared.unsent.load(Ordering::Relaxed)
    }

    /// Submits waiting, and sent but not answered.
    pub fn backlog(&self) -> (usize, usize) {
        let s = self.shared.session();
        (s.queued(), s.in_flight())
    }

    /// Logs out, waits up to `grace` for the answer, and stops.
    pub async fn shutdown(mut self, grace: std::time::Duration) {
        {
            let mut s = self.shared.session();
            if s.is_bound() {
                s.logout(now());
                self.shared.flush(&mut s);
            }
        }
        let _ = tokio::time::timeout(grace, async {
            while let Some(e) = self.next_event().await {
                if matches!(e, Event::LoggedOut | Event::LinkLost) {
                    return;
                }
            }
        })
        .await;
        self.timer.abort();
        if let Some(c) = self.client.take() {
            c.shutdown().await;
        }
    }
}

impl<P: Protocol> Drop for GatewayClient<P> {
    fn drop(&mut self) {
        self.timer.abort();
    }
}
