//! One WebSocket echo server in memory, for `valgrind --tool=callgrind`: instructions
//! are repeatable where the machine's timings are not (net/BENCHMARKS.md).
//!
//! `WHICH=packwire` (default): the runtime serving `ServerConnCodec` as `ws serve --echo`
//! does (a plain handler, the auth gate, a 30 s heartbeat), each connection adopted from a
//! tokio duplex pipe; `WHICH=fastwebsockets`: its `FragmentCollector` on the same pipes.
//! Both are loaded by the same client (packwire's `ClientConnCodec`, one binary message of
//! `SIZE` bytes in flight) on one current-thread runtime, so the difference between two
//! totals is the difference between the two servers.
//!
//! ```text
//! cargo build --release -p packwire-cli --example ws_echo_one
//! WHICH=packwire CONNS=1 MSGS=100000 valgrind --tool=callgrind \
//!     --callgrind-out-file=/dev/null target/release/examples/ws_echo_one
//! ```

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::http1::{Event, ServerCodec};
use packwire_codecs::websocket::{
    ClientConnCodec, ClientIncoming, ClientOutgoing, Config, Incoming, Message, Outgoing,
    ServerConnCodec, ServerHandshake,
};
use packwire_net::{Conn, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Decoder, Encoder};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `ws serve --echo`'s answer, without its logging.
fn echo(conn: &Conn<Outgoing>, inc: Incoming) -> Option<Outgoing> {
    match inc {
        Incoming::Upgrade { answer, .. } => match *answer {
            Ok(a) => Some(packwire_net::websocket::upgraded(conn, a)),
            Err(r) => Some(Outgoing::Refuse(Box::new(r))),
        },
        Incoming::Message(m @ (Message::Text(_) | Message::Binary(_))) => {
            Some(Outgoing::Message(m))
        }
        Incoming::Message(m) => m.reply().map(Outgoing::Message),
    }
}

async fn fastwebsockets(mut s: DuplexStream) -> Result<(), Error> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let mut http = ServerCodec::new();
    let mut buf = BytesMut::with_capacity(4096);
    let req = loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        if let Some(Event::Head(h)) = http.decode(&mut buf)? {
            break h;
        }
    };
    let accepted = ServerHandshake::default()
        .accept(&req)
        .map_err(|r| io::Error::other(r.reason))?;
    let mut out = BytesMut::new();
    http.encode(Event::Head(accepted.response), &mut out)?;
    s.write_all(&out).await?;
    let mut ws = WebSocket::after_handshake(s, Role::Server);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

/// The opening handshake, then `msgs` echoes of `size` bytes, one at a time.
async fn client(mut s: DuplexStream, msgs: usize, size: usize) -> Result<(), Error> {
    let mut c = ClientConnCodec::new("bench", "/", &[], false, Config::default());
    let (mut rbuf, mut out) = (BytesMut::with_capacity(64 * 1024), BytesMut::new());
    c.encode(ClientOutgoing::Open, &mut out)?;
    s.write_all(&out).await?;
    out.clear();
    loop {
        if s.read_buf(&mut rbuf).await? == 0 {
            return Err("closed during the handshake".into());
        }
        match c.decode(&mut rbuf)? {
            Some(ClientIncoming::Upgraded(Ok(_))) => break,
            Some(ClientIncoming::Upgraded(Err(e))) => return Err(e.into()),
            _ => {}
        }
    }
    let payload = Bytes::from(vec![7u8; size]);
    for _ in 0..msgs {
        c.encode(
            ClientOutgoing::Message(Message::Binary(payload.clone())),
            &mut out,
        )?;
        s.write_all(&out).await?;
        out.clear();
        loop {
            if let Some(ClientIncoming::Message(Message::Binary(b))) = c.decode(&mut rbuf)? {
                assert_eq!(b.len(), size, "the echo is the message");
                break;
            }
            if s.read_buf(&mut rbuf).await? == 0 {
                return Err("the server closed".into());
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let which = std::env::var("WHICH").unwrap_or_else(|_| "packwire".into());
    let (conns, msgs, size) = (var("CONNS", 1), var("MSGS", 100_000), var("SIZE", 20));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = match which.as_str() {
            "packwire" => {
                let hs = std::sync::Arc::new(ServerHandshake::default());
                let make = move || ServerConnCodec::with_handshake(hs.clone(), Config::default());
                let ping = Duration::from_secs(30);
                Some(
                    Server::builder_sync(make, echo)
                        .auth_gate(Duration::from_secs(10))
                        .heartbeat(ping, ping * 3, || {
                            Outgoing::Message(Message::Ping(Bytes::new()))
                        })
                        .bind("127.0.0.1:0")
                        .await?,
                )
            }
            "fastwebsockets" => None,
            other => return Err(format!("WHICH={other}: packwire or fastwebsockets").into()),
        };
        let peer = "127.0.0.1:1".parse()?;
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..conns {
            let (c, s) = tokio::io::duplex(64 * 1024);
            match &server {
                Some(server) => server.adopt(s, peer).map_err(|_| "the server stopped")?,
                None => drop(tokio::spawn(fastwebsockets(s))),
            }
            clients.spawn(client(c, msgs, size));
        }
        while let Some(r) = clients.join_next().await {
            r??;
        }
        println!("{} echoes of {size} bytes", conns * msgs);
        Ok(())
    })
}
