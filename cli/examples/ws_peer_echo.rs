//! The WebSocket echo servers packwire's is measured against (net/BENCHMARKS.md), each as
//! its own README shows it: `ws_peer_echo tungstenite PORT` (tokio-tungstenite:
//! `accept_async`, the read half forwarded into the write half) and `ws_peer_echo
//! fastwebsockets PORT` (the opening handshake answered with packwire's http1 and
//! `ServerHandshake`, then fastwebsockets' `FragmentCollector` reading and writing
//! frames, pongs and closes automatic) and `ws_peer_echo yawc PORT` (yawc, the one tokio
//! WebSocket crate with permessage-deflate: the handshake answered by packwire's http1
//! with deflate agreed when offered, the agreed `Sec-WebSocket-Extensions` handed to
//! `WebSocket::from_stream_with_extensions` with yawc's balanced compression, level 6 as
//! packwire's; its `Stream`/`Sink` echoing data frames). Runs until killed.

use std::io;

use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use packwire_codecs::http1::{Event, ServerCodec};
use packwire_codecs::websocket::{DeflateConfig, ServerHandshake};
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

/// Reads the opening handshake with packwire's http1 and answers it with `hs`; `None` when
/// the client left first. Returns the agreed `Sec-WebSocket-Extensions`, if any.
async fn handshake(
    s: &mut TcpStream,
    hs: &ServerHandshake,
) -> Result<Option<Option<String>>, Box<dyn std::error::Error + Send + Sync>> {
    let mut http = ServerCodec::new();
    let mut buf = BytesMut::with_capacity(4096);
    let req = loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        if let Some(Event::Head(h)) = http.decode(&mut buf)? {
            break h;
        }
    };
    let accepted = hs.accept(&req).map_err(|r| io::Error::other(r.reason))?;
    let ext = accepted
        .response
        .headers()
        .get("sec-websocket-extensions")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let mut out = BytesMut::new();
    http.encode(Event::Head(accepted.response), &mut out)?;
    s.write_all(&out).await?;
    Ok(Some(ext))
}

async fn yawc(mut s: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use futures_util::SinkExt;
    use yawc::{Options, Role, WebSocket, frame::OpCode};
    let hs = ServerHandshake {
        deflate: Some(DeflateConfig::default()),
        ..ServerHandshake::default()
    };
    let Some(ext) = handshake(&mut s, &hs).await? else {
        return Ok(());
    };
    let opts = Options::default().with_balanced_compression();
    let mut ws = WebSocket::from_stream_with_extensions(s, Role::Server, ext.as_deref(), opts)?;
    while let Some(frame) = ws.next().await {
        match frame.opcode() {
            OpCode::Text | OpCode::Binary => ws.send(frame).await?,
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

async fn fastwebsockets(mut s: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    // the handshake by hand (fastwebsockets' own needs hyper)
    if handshake(&mut s, &ServerHandshake::default())
        .await?
        .is_none()
    {
        return Ok(());
    }
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
            "yawc" => drop(tokio::spawn(yawc(s))),
            other => {
                return Err(io::Error::other(format!(
                    "{other}: tungstenite, fastwebsockets or yawc"
                )));
            }
        }
    }
}
