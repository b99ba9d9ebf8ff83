//! `Conn::call` and link checks over loopback with a small protocol whose requests and
//! responses carry a sequence number. Every wait is bounded; everything is shut down.

mod common;
use common::wait_until;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use packwire_core::FrameError;
use packwire_net::{
    CallConfig, CallError, Client, ClientEvent, ClientHandle, CloseReason, Conn, Exchange,
    Listener, Role, Server, ServerHandle,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Decoder, Encoder};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tiny {
    Req(u32, Bytes),
    Resp(u32, Bytes),
    Check(u32),
    CheckResp(u32),
    Note(Bytes),
}

impl Exchange for Tiny {
    fn role(&self) -> Role {
        match self {
            Tiny::Req(s, _) | Tiny::Check(s) => Role::Request(*s),
            Tiny::Resp(s, _) | Tiny::CheckResp(s) => Role::Response(*s),
            Tiny::Note(_) => Role::Other,
        }
    }
    fn set_sequence(&mut self, seq: u32) {
        if let Tiny::Req(s, _) | Tiny::Resp(s, _) | Tiny::Check(s) | Tiny::CheckResp(s) = self {
            *s = seq;
        }
    }
    fn link_check(seq: u32) -> Option<Self> {
        Some(Tiny::Check(seq))
    }
    fn answer_link_check(&self) -> Option<Self> {
        match self {
            Tiny::Check(s) => Some(Tiny::CheckResp(*s)),
            _ => None,
        }
    }
}

/// tag (1 byte), sequence (4 bytes), body; inside a 4-byte length frame.
#[derive(Debug, Default)]
struct TinyCodec(LengthFieldCodec);

impl Decoder for TinyCodec {
    type Item = Tiny;
    type Error = FrameError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Tiny>, FrameError> {
        let Some(mut f) = self.0.decode(src)? else {
            return Ok(None);
        };
        if f.len() < 5 {
            return Err(FrameError::malformed("tiny header", 0));
        }
        let tag = f.get_u8();
        let seq = f.get_u32();
        Ok(Some(match tag {
            0 => Tiny::Req(seq, f),
            1 => Tiny::Resp(seq, f),
            2 => Tiny::Check(seq),
            3 => Tiny::CheckResp(seq),
            _ => Tiny::Note(f),
        }))
    }
}

impl Encoder<Tiny> for TinyCodec {
    type Error = packwire_core::EncodeError;
    fn encode(&mut self, m: Tiny, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let mut f = BytesMut::new();
        let (tag, seq, body) = match m {
            Tiny::Req(s, b) => (0, s, b),
            Tiny::Resp(s, b) => (1, s, b),
            Tiny::Check(s) => (2, s, Bytes::new()),
            Tiny::CheckResp(s) => (3, s, Bytes::new()),
            Tiny::Note(b) => (4, 0, b),
        };
        f.put_u8(tag);
        f.put_u32(seq);
        f.put_slice(&body);
        self.0.encode(f.freeze(), dst)
    }
}

fn req(body: &str) -> Tiny {
    Tiny::Req(0, Bytes::copy_from_slice(body.as_bytes()))
}

fn body(m: &Tiny) -> &[u8] {
    match m {
        Tiny::Req(_, b) | Tiny::Resp(_, b) | Tiny::Note(b) => b,
        _ => b"",
    }
}

/// A server whose handler records every request and calls `answer` with it.
async fn server<A>(answer: A) -> (ServerHandle<Tiny>, Arc<Mutex<Vec<Tiny>>>)
where
    A: Fn(&Conn<Tiny>, &Tiny, &mut Vec<Tiny>) + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let answer = Arc::new(answer);
    let server = Server::builder(TinyCodec::default, move |conn: Conn<Tiny>, m: Tiny| {
        let (log, answer) = (log.clone(), answer.clone());
        async move {
            let mut seen = log.lock().unwrap();
            seen.push(m.clone());
            answer(&conn, &m, &mut seen);
        }
    })
    .calls(CallConfig::default())
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    (server, seen)
}

/// What the client's handler received, and unmatched responses its listener saw.
#[derive(Default, Clone)]
struct Seen {
    handled: Arc<Mutex<Vec<Tiny>>>,
    unmatched: Arc<Mutex<Vec<u32>>>,
}

impl Listener<Tiny> for Seen {
    fn on_unmatched_response(&self, _: &Conn<Tiny>, seq: u32) {
        self.unmatched.lock().unwrap().push(seq);
    }
}

async fn client(
    server: &ServerHandle<Tiny>,
    cfg: CallConfig,
) -> (ClientHandle<Tiny>, Conn<Tiny>, Seen) {
    let seen = Seen::default();
    let handled = seen.handled.clone();
    let mut c = Client::builder(TinyCodec::default, move |_: Conn<Tiny>, m: Tiny| {
        let handled = handled.clone();
        async move { handled.lock().unwrap().push(m) }
    })
    .node(server.local_addr())
    .calls(cfg)
    .listener(seen.clone())
    .start();
    let ev = timeout(WAIT, c.next_event()).await.unwrap().unwrap();
    assert!(matches!(ev, ClientEvent::Connected { .. }), "{ev:?}");
    let conn = c.conn().expect("connected");
    (c, conn, seen)
}

fn respond(conn: &Conn<Tiny>, m: &Tiny) {
    if let Tiny::Req(s, b) = m {
        let up = Bytes::from(b.to_ascii_uppercase());
        conn.try_send(Tiny::Resp(*s, up)).unwrap();
    }
}

#[tokio::test]
async fn calls_resolve_with_their_own_responses_in_any_order() {
    // the server holds four requests, then answers them last to first and sends a notice
    let (server, seen) = server(|conn, _, seen| {
        if seen.len() == 4 {
            for m in seen.iter().rev() {
                respond(conn, m);
            }
            conn.try_send(Tiny::Note(Bytes::from_static(b"note")))
                .unwrap();
        }
    })
    .await;
    let (client, conn, got) = client(&server, CallConfig::default()).await;
    let mut calls = tokio::task::JoinSet::new();
    for word in ["alpha", "beta", "gamma", "delta"] {
        let conn = conn.clone();
        calls.spawn(async move { (word, conn.call(req(word)).await) });
    }
    let mut answered = 0;
    while let Some(r) = timeout(WAIT, calls.join_next()).await.unwrap() {
        let (word, resp) = r.unwrap();
        let resp = resp.unwrap();
        assert_eq!(body(&resp), word.to_ascii_uppercase().as_bytes());
        answered += 1;
    }
    assert_eq!(answered, 4);
    // distinct sequence numbers were assigned
    let mut seqs: Vec<u32> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|m| match m.role() {
            Role::Request(s) => s,
            _ => panic!("not a request: {m:?}"),
        })
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 4);
    // messages that are not responses still reach the handler; responses do not
    wait_until(|| got.handled.lock().unwrap().len() == 1).await;
    assert_eq!(
        got.handled.lock().unwrap()[0],
        Tiny::Note(Bytes::from_static(b"note"))
    );
    assert!(got.unmatched.lock().unwrap().is_empty());
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_window_holds_the_seventeenth_call_until_a_slot_frees() {
    // the server answers nothing by itself: the test answers through its connection
    let (server, seen) = server(|_, _, _| {}).await;
    let (client, conn, _) = client(&server, CallConfig::default()).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..17 {
        let conn = conn.clone();
        calls.spawn(async move { conn.call(req(&format!("r{i}"))).await });
    }
    wait_until(|| seen.lock().unwrap().len() == 16).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.lock().unwrap().len(), 16, "the 17th waits for room");
    let server_conn = server.registry().all().pop().unwrap();
    let first = seen.lock().unwrap()[0].clone();
    respond(&server_conn, &first);
    wait_until(|| seen.lock().unwrap().len() == 17).await;
    let rest: Vec<Tiny> = seen.lock().unwrap()[1..].to_vec();
    for m in &rest {
        respond(&server_conn, m);
    }
    let mut ok = 0;
    while let Some(r) = timeout(WAIT, calls.join_next()).await.unwrap() {
        r.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 17);
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_dropped_response_is_resent_and_a_call_times_out_after_n_sends() {
    // the server ignores the first send of "retry" and answers the second; it never
    // answers "never"
    let (server, seen) = server(|conn, m, seen| {
        let sends = seen.iter().filter(|s| *s == m).count();
        if body(m) == b"retry" && sends == 2 {
            respond(conn, m);
        }
    })
    .await;
    let cfg = CallConfig::new(16, Duration::from_millis(150), 3);
    let (client, conn, _) = client(&server, cfg).await;
    let resp = timeout(WAIT, conn.call(req("retry")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body(&resp), b"RETRY");
    let err = timeout(WAIT, conn.call(req("never")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err, CallError::TimedOut { sends: 3 });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|m| body(m) == b"retry").count(), 2);
    let nevers: Vec<&Tiny> = seen.iter().filter(|m| body(m) == b"never").collect();
    assert_eq!(nevers.len(), 3);
    assert!(
        nevers.iter().all(|m| *m == nevers[0]),
        "resends keep the sequence number"
    );
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_late_response_is_reported_unmatched_and_reaches_the_handler() {
    let (server, _) = server(|conn, m, _| {
        let (conn, m) = (conn.clone(), m.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            respond(&conn, &m);
        });
    })
    .await;
    let cfg = CallConfig::new(1, Duration::from_millis(50), 1);
    let (client, conn, got) = client(&server, cfg).await;
    let err = conn.call(req("late")).await.unwrap_err();
    assert_eq!(err, CallError::TimedOut { sends: 1 });
    wait_until(|| got.unmatched.lock().unwrap().len() == 1).await;
    wait_until(|| got.handled.lock().unwrap().len() == 1).await;
    assert_eq!(body(&got.handled.lock().unwrap()[0]), b"LATE");
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn dropping_a_call_frees_its_window_slot() {
    // answers only "second"
    let (server, _) = server(|conn, m, _| {
        if body(m) == b"second" {
            respond(conn, m);
        }
    })
    .await;
    let cfg = CallConfig::new(1, Duration::from_secs(30), 1);
    let (client, conn, _) = client(&server, cfg).await;
    // cancelled while waiting for its response
    assert!(
        timeout(Duration::from_millis(100), conn.call(req("first")))
            .await
            .is_err()
    );
    let resp = timeout(WAIT, conn.call(req("second")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body(&resp), b"SECOND");
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn closing_the_connection_fails_calls_in_flight() {
    let (server, _) = server(|conn, _, _| conn.close(CloseReason::Kicked)).await;
    let (client, conn, _) = client(&server, CallConfig::default()).await;
    let err = timeout(WAIT, conn.call(req("bye")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err, CallError::Closed);
    assert_eq!(
        conn.call(Tiny::Note(Bytes::new())).await,
        Err(CallError::NotARequest)
    );
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn link_checks_are_answered_by_a_peer_and_close_a_silent_one() {
    let server = Server::builder(TinyCodec::default, |_: Conn<Tiny>, _: Tiny| async {})
        .link_check(Duration::from_millis(60), 2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // a packwire client answers the checks itself and its handler never sees them
    let (client, _conn, got) = client(&server, CallConfig::default()).await;
    // a raw socket that never answers
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut buf = BytesMut::new();
    let mut codec = TinyCodec::default();
    let mut checks = 0;
    timeout(WAIT, async {
        loop {
            if raw.read_buf(&mut buf).await.unwrap() == 0 {
                break;
            }
            while let Some(m) = codec.decode(&mut buf).unwrap() {
                assert!(matches!(m, Tiny::Check(_)), "{m:?}");
                checks += 1;
            }
        }
    })
    .await
    .expect("the silent peer was not closed");
    assert_eq!(checks, 2);
    let stats = server.stats();
    assert_eq!(stats.closed_for("idle_timeout"), 1);
    assert_eq!(stats.current, 1, "the answering client stays connected");
    assert!(got.handled.lock().unwrap().is_empty());
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_client_checks_a_silent_server_and_drops_the_link() {
    // a raw server that accepts, reads and never answers
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let raw = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut codec = TinyCodec::default();
        let mut checks = 0;
        while s.read_buf(&mut buf).await.unwrap_or(0) > 0 {
            while let Some(m) = codec.decode(&mut buf).unwrap() {
                assert!(matches!(m, Tiny::Check(_)), "{m:?}");
                checks += 1;
            }
        }
        checks
    });
    let mut c = Client::builder(TinyCodec::default, |_: Conn<Tiny>, _: Tiny| async {})
        .node(addr)
        .link_check(Duration::from_millis(60), 2)
        .start();
    let ev = timeout(WAIT, c.next_event()).await.unwrap().unwrap();
    assert!(matches!(ev, ClientEvent::Connected { .. }), "{ev:?}");
    let ev = timeout(WAIT, c.next_event()).await.unwrap().unwrap();
    assert_eq!(
        ev,
        ClientEvent::Disconnected {
            node: addr,
            reason: CloseReason::IdleTimeout
        }
    );
    assert_eq!(timeout(WAIT, raw).await.unwrap().unwrap(), 2);
    c.shutdown().await;
}

/// A peer inside the transport (issue #14.1): every request written is answered at once,
/// so its response is readable before `poll_write` returns. The connection's task then
/// reads the answer in the same poll that wrote the request, before the caller runs
/// again — the interleaving in which the old `Conn::call` saw the sequence already gone
/// from the window and returned `Closed` for an answered call, and the SP resent it.
/// Deterministic: no socket, no thread, no sleep.
struct Answering {
    codec: TinyCodec,
    written: BytesMut,
    readable: BytesMut,
    reader: Option<std::task::Waker>,
    shut: bool,
}

impl Answering {
    fn new() -> Self {
        Answering {
            codec: TinyCodec::default(),
            written: BytesMut::new(),
            readable: BytesMut::new(),
            reader: None,
            shut: false,
        }
    }
}

impl tokio::io::AsyncWrite for Answering {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        me.written.extend_from_slice(buf);
        while let Some(m) = me
            .codec
            .decode(&mut me.written)
            .expect("the runtime wrote a bad frame")
        {
            if let Tiny::Req(s, b) = m {
                let resp = Tiny::Resp(s, Bytes::from(b.to_ascii_uppercase()));
                me.codec.encode(resp, &mut me.readable).unwrap();
            }
        }
        if let Some(w) = me.reader.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let me = self.get_mut();
        me.shut = true;
        if let Some(w) = me.reader.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncRead for Answering {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if me.readable.is_empty() {
            if me.shut {
                return std::task::Poll::Ready(Ok(())); // end of stream after our FIN
            }
            me.reader = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        let n = me.readable.len().min(buf.remaining());
        buf.put_slice(&me.readable.split_to(n));
        std::task::Poll::Ready(Ok(()))
    }
}

impl packwire_net::Transport for Answering {
    fn poll_read_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.readable.is_empty() && !self.shut {
            self.reader = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Ok(()))
    }
}

/// A server connection over an [`Answering`] peer, adopted by the server; what its
/// handler and listener saw.
async fn answering_conn(cfg: CallConfig) -> (ServerHandle<Tiny>, Conn<Tiny>, Seen) {
    let seen = Seen::default();
    let handled = seen.handled.clone();
    let server = Server::builder(TinyCodec::default, move |_: Conn<Tiny>, m: Tiny| {
        let handled = handled.clone();
        async move { handled.lock().unwrap().push(m) }
    })
    .calls(cfg)
    .listener(seen.clone())
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let peer = "127.0.0.1:40000".parse().unwrap();
    assert!(server.adopt(Answering::new(), peer).is_ok());
    wait_until(|| server.registry().len() == 1).await;
    let conn = server.registry().all().pop().unwrap();
    assert_eq!(conn.peer_addr(), peer);
    (server, conn, seen)
}

#[tokio::test(start_paused = true)]
async fn a_call_answered_in_the_same_poll_that_wrote_it_returns_its_answer() {
    let (server, conn, seen) = answering_conn(CallConfig::default()).await;
    for i in 0..1_000 {
        let word = format!("call {i}");
        let resp = conn
            .call(req(&word))
            .await
            .expect("an answered call returns its answer");
        assert_eq!(body(&resp), word.to_ascii_uppercase().as_bytes());
    }
    // every response was consumed by its call: none reached the handler, none unmatched
    assert!(seen.handled.lock().unwrap().is_empty());
    assert!(seen.unmatched.lock().unwrap().is_empty());
    server.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn a_hundred_thousand_calls_on_one_connection_see_no_spurious_error() {
    // 64 callers share one connection and its window of 16; the clock is paused, so if
    // anything stalled the runtime would jump to the call time-out and a call would fail
    const CALLERS: usize = 64;
    const CALLS: usize = 100_000;
    let (server, conn, seen) = answering_conn(CallConfig::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..CALLERS {
        let conn = conn.clone();
        tasks.spawn(async move {
            let mut errors = 0usize;
            for i in (t..CALLS).step_by(CALLERS) {
                let word = format!("{i}");
                match conn.call(req(&word)).await {
                    Ok(r) if body(&r) == word.as_bytes() => {}
                    _ => errors += 1,
                }
            }
            errors
        });
    }
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        errors += r.unwrap();
    }
    assert_eq!(errors, 0, "spurious call errors");
    assert!(seen.unmatched.lock().unwrap().is_empty());
    assert_eq!(server.stats().messages_out, CALLS as u64);
    server.shutdown(WAIT).await;
}
