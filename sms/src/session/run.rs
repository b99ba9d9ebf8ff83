//! A [`ClientSession`] on the packwire-net runtime: one client connection (reconnected
//! and failed over by the runtime), the session fed every PDU and the time, a timer task
//! for its deadlines, its events on a bounded channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use packwire_net::{Backoff, Client, ClientHandle, CloseReason, Conn, Listener};
use tokio::sync::{Notify, mpsc};

use super::{ClientConfig, ClientSession, Event, Protocol, RequestId};

/// Events that may wait unread before new ones are dropped (and counted).
pub const EVENT_BUFFER: usize = 10_000;

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Shared<P: Protocol> {
    session: Mutex<ClientSession<P>>,
    conn: Mutex<Option<Conn<P::Pdu>>>,
    wake: Notify,
    events: mpsc::Sender<Event>,
    dropped_events: AtomicU64,
    unsent: AtomicU64,
}

impl<P: Protocol> Shared<P>
where
    P::Pdu: Send + 'static,
{
    fn session(&self) -> std::sync::MutexGuard<'_, ClientSession<P>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what the session hands out and passes its events on.
    fn flush(&self, s: &mut ClientSession<P>) {
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
        while let Some(e) = s.poll_event() {
            let lost = matches!(e, Event::LinkLost | Event::LoggedOut);
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
        drop(s);
        self.0.wake.notify_one();
    }

    fn on_before_close(&self, conn: &Conn<P::Pdu>, _reason: &CloseReason) {
        let mut c = self.0.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if c.as_ref().is_some_and(|c| c.id() == conn.id()) {
            *c = None;
            drop(c);
            self.0.session().disconnected(now());
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
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            session: Mutex::new(ClientSession::new(protocol, cfg)),
            conn: Mutex::new(None),
            wake: Notify::new(),
            events: tx,
            dropped_events: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
        });
        let st = shared.clone();
        let mut b = Client::builder_sync(make, move |_conn: &Conn<P::Pdu>, pdu: P::Pdu| {
            let mut s = st.session();
            s.handle(now(), &pdu);
            st.flush(&mut s);
            drop(s);
            st.wake.notify_one();
        })
        .backoff(backoff)
        .listener(Hooks(shared.clone()));
        for n in nodes {
            b = b.node(*n);
        }
        let client = b.start();
        let st = shared.clone();
        let timer = tokio::spawn(async move {
            loop {
                let due = st.session().poll_timeout();
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
        drop(s);
        self.shared.wake.notify_one();
        id
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
