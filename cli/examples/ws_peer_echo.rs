//! The WebSocket echo servers packwire's is measured against (net/BENCHMARKS.md), each as
//! its own README shows it: `ws_peer_echo tungstenite PORT` (tokio-tungstenite:
//! `accept_async`, the read half forwarded into the write half) and `ws_peer_echo
//! fastwebsockets PORT` (the opening handshake answered with packwire's http1 and
//! `ServerHandshake`, then fastwebsockets' `FragmentCollector` reading and writing
//! frames, pongs and closes automatic). Runs until killed.

use std::io;

use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use packwire_codecs::http1::{Event, ServerCodec};
use packwire_codecs::websocket::ServerHandshake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder};

async fn tungstenite(s: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let ws = tokio_tungstenite::accept_async(s).await?;
    let (w, r) = ws.split();
    r.try_filter(|m| std::future::ready(m.is_text() || m.is_binary()))
        .forward(w)
        .await?;
    Ok(())
}

async fn fastwebsockets(mut s: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    // the handshake by hand (fastwebsockets' own needs hyper)
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

#[tokio::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (which, port) = (
        args.next().unwrap_or_default(),
        args.next().unwrap_or_default(),
    );
    let l = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("{which} echo listening on ws://{}", l.local_addr()?);
    loop {
        let (s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
        match which.as_str() {
            "tungstenite" => drop(tokio::spawn(tungstenite(s))),
            "fastwebsockets" => drop(tokio::spawn(fastwebsockets(s))),
            other => {
                return Err(io::Error::other(format!(
                    "{other}: tungstenite or fastwebsockets"
                )));
            }
        }
    }
}
