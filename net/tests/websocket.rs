//! WebSocket on the runtime: upgraded connections in the registry, and a broadcast
//! encoded once and compressed once for the connections that share a window without
//! context takeover.
#![cfg(feature = "websocket")]

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use packwire_codecs::websocket::{
    ClientConnCodec, ClientIncoming, ClientOutgoing, Config, DeflateConfig, Incoming, Message,
    Outgoing, ServerConnCodec, ServerHandshake,
};
use packwire_net::websocket::{self, Broadcast};
use packwire_net::{Conn, Server, Target};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(10);

async fn client(addr: std::net::SocketAddr, deflate: bool) -> Framed<TcpStream, ClientConnCodec> {
    let s = TcpStream::connect(addr).await.unwrap();
    let mut f = Framed::new(
        s,
        ClientConnCodec::new("x", "/", &[], deflate, Config::default()),
    );
    f.send(ClientOutgoing::Open).await.unwrap();
    match timeout(WAIT, f.next()).await.unwrap().unwrap().unwrap() {
        ClientIncoming::Upgraded(Ok(agreed)) => {
            assert_eq!(agreed.deflate.is_some(), deflate);
        }
        other => panic!("not upgraded: {other:?}"),
    }
    f
}

#[tokio::test]
async fn a_broadcast_is_compressed_once_for_every_connection_that_can_share_it() {
    let hs = Arc::new(ServerHandshake {
        // every compressing client gets no context takeover on the server's side
        deflate: Some(DeflateConfig {
            server_no_context_takeover: true,
            level: 6,
        }),
        ..ServerHandshake::default()
    });
    let server = Server::builder_sync(
        move || ServerConnCodec::with_handshake(hs.clone(), Config::default()),
        |conn: &Conn<Outgoing>, inc: Incoming| match inc {
            Incoming::Upgrade { answer, .. } => match *answer {
                Ok(accepted) => Some(websocket::upgraded(conn, accepted)),
                Err(refused) => Some(Outgoing::Refuse(Box::new(refused))),
            },
            Incoming::Message(m) => m.reply().map(Outgoing::Message),
        },
    )
    .auth_gate(WAIT)
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let addr = server.local_addr();
    let mut a = client(addr, true).await;
    let mut b = client(addr, true).await;
    let mut plain = client(addr, false).await;
    // one more connection still in its opening handshake: no broadcast reaches it
    let _halfway = TcpStream::connect(addr).await.unwrap();
    let reg = server.registry().clone();
    while reg.len() < 4 {
        tokio::task::yield_now().await;
    }
    let text = "the same news for everyone. ".repeat(50);
    let done = websocket::broadcast(&reg, Target::All, Message::text(text.clone()), 6).unwrap();
    assert_eq!(
        done,
        Broadcast {
            reached: 3,
            plain: 1,
            compressed: 1
        }
    );
    for (name, c) in [("a", &mut a), ("b", &mut b), ("plain", &mut plain)] {
        match timeout(WAIT, c.next()).await.unwrap().unwrap().unwrap() {
            ClientIncoming::Message(m) => assert_eq!(m, Message::text(text.clone()), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // a second one: no context was kept, so the same compressed bytes decode again
    let done = websocket::broadcast(&reg, Target::All, Message::text("again"), 6).unwrap();
    assert_eq!(done.reached, 3);
    for c in [&mut a, &mut b, &mut plain] {
        match timeout(WAIT, c.next()).await.unwrap().unwrap().unwrap() {
            ClientIncoming::Message(m) => assert_eq!(m, Message::text("again")),
            other => panic!("{other:?}"),
        }
    }
    // a text that is not UTF-8 is refused before anything is queued
    let bad = Message::Text(bytes::Bytes::from_static(&[0xff]));
    assert!(websocket::broadcast(&reg, Target::All, bad, 6).is_err());
    server.shutdown(WAIT).await;
}
