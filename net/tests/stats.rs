//! The statistics as a bounded tree: the busiest IP addresses with the rest added up, and
//! (feature `serde`) the snapshots as JSON. Pipes adopted under made-up peer addresses.

mod common;
use common::{frame, wait_until};

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::LengthFieldCodec;
use packwire_net::{Conn, Server, ServerHandle};
use tokio::io::{AsyncWriteExt, DuplexStream};

const WAIT: Duration = Duration::from_secs(5);

async fn server() -> ServerHandle<Bytes> {
    Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, _: Bytes| {})
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

/// A connection from `ip` that sends `n` empty frames.
async fn talk(server: &ServerHandle<Bytes>, from: IpAddr, n: usize) -> DuplexStream {
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    assert!(server.adopt(theirs, SocketAddr::new(from, 40_000)).is_ok());
    let bytes: Vec<u8> = (0..n).flat_map(|_| frame(b"")).collect();
    ours.write_all(&bytes).await.unwrap();
    ours
}

#[tokio::test]
async fn the_busiest_addresses_come_first_and_the_rest_is_added_up() {
    let server = server().await;
    let mut held = Vec::new();
    // ten addresses: 10.0.0.k sends k messages (two connections for 10.0.0.3)
    for k in 1..=10u8 {
        held.push(talk(&server, ip(k), usize::from(k)).await);
    }
    held.push(talk(&server, ip(3), 0).await);
    wait_until(|| server.stats().messages_in == 55).await;
    let top = server.top_ips(3);
    let got: Vec<(IpAddr, u64)> = top.top.iter().map(|(a, s)| (*a, s.messages_in)).collect();
    assert_eq!(got, [(ip(10), 10), (ip(9), 9), (ip(8), 8)]);
    assert_eq!(top.others, 7);
    assert_eq!(top.rest.messages_in, 55 - 27);
    assert_eq!(
        top.rest.connections, 8,
        "seven addresses, one with two connections"
    );
    // no more than there are
    let all = server.top_ips(100);
    assert_eq!((all.top.len(), all.others), (10, 0));
    assert_eq!(
        all.top
            .iter()
            .find(|(a, _)| *a == ip(3))
            .unwrap()
            .1
            .connections,
        2
    );
    drop(held);
    server.shutdown(WAIT).await;
}

#[cfg(feature = "serde")]
#[tokio::test]
async fn snapshots_serialize_as_json() {
    let server = server().await;
    let held = talk(&server, ip(1), 2).await;
    wait_until(|| server.stats().messages_in == 2).await;
    drop(held);
    wait_until(|| server.stats().current == 0).await;
    let stats = serde_json::to_value(server.stats()).unwrap();
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["messages_in"], 2);
    assert_eq!(stats["closed"]["peer_closed"], 1, "{stats}");
    let top = serde_json::to_value(server.top_ips(5)).unwrap();
    assert_eq!(top["top"][0][0], "10.0.0.1");
    assert_eq!(top["top"][0][1]["messages_in"], 2);
    assert_eq!(top["others"], 0);
    server.shutdown(WAIT).await;
}
