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

/// A line server: `JOIN g` / `LEAVE g` change groups (answered `ok`); other lines are
/// answered with themselves.
async fn group_server() -> ServerHandle<Bytes> {
    Server::builder_sync(
        packwire_codecs::LineCodec::new,
        |conn: &Conn<Bytes>, line: Bytes| {
            let registry = conn.registry()?;
            if let Some(g) = line.strip_prefix(b"JOIN ") {
                registry.join_group(conn, &String::from_utf8_lossy(g));
                return Some(Bytes::from_static(b"ok"));
            }
            if let Some(g) = line.strip_prefix(b"LEAVE ") {
                registry.leave_group(conn, &String::from_utf8_lossy(g));
                return Some(Bytes::from_static(b"ok"));
            }
            Some(line)
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap()
}

/// Writes `text` and waits until the server has read `total` messages in all.
async fn say(server: &ServerHandle<Bytes>, io: &mut DuplexStream, text: &[u8], total: u64) {
    io.write_all(text).await.unwrap();
    wait_until(|| server.stats().messages_in == total).await;
}

#[tokio::test]
async fn groups_count_what_their_members_did_while_members() {
    let server = group_server().await;
    let (mut a, mut b) = (talk(&server, ip(1), 0).await, talk(&server, ip(2), 0).await);
    // before joining: not the group's
    say(&server, &mut a, b"hello\n", 1).await;
    say(&server, &mut a, b"JOIN room\n", 2).await;
    say(&server, &mut b, b"JOIN room\nJOIN lobby\n", 4).await;
    say(&server, &mut a, b"one\ntwo\n", 6).await;
    say(&server, &mut b, b"three\n", 7).await;
    let registry = server.registry();
    // counted per read and per write, for the groups the connection is in once that
    // read's messages are handled (or the write is done): each JOIN's read and its
    // answer count, "hello" does not
    wait_until(|| {
        registry
            .group_stats("room")
            .is_some_and(|s| s.messages_out == 6)
    })
    .await;
    let room = registry.group_stats("room").unwrap();
    assert_eq!((room.connections, room.messages_in), (2, 6), "{room:?}");
    assert_eq!(room.handler_ns, 0, "not timed: no clock read");
    assert_eq!(room.bytes_in, (10 + 10 + 11 + 8 + 6) as u64);
    wait_until(|| {
        registry
            .group_stats("lobby")
            .is_some_and(|s| s.messages_out == 3)
    })
    .await;
    let lobby = registry.group_stats("lobby").unwrap();
    assert_eq!((lobby.connections, lobby.messages_in), (1, 3), "{lobby:?}");
    let names: Vec<String> = registry
        .groups_stats()
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    assert_eq!(names, ["lobby", "room"]);
    // a leaves: what it says now is not the room's; b closing empties the room
    say(&server, &mut a, b"LEAVE room\n", 8).await;
    say(&server, &mut a, b"four\n", 9).await;
    let room = registry.group_stats("room").unwrap();
    assert_eq!((room.connections, room.messages_in), (1, 6), "{room:?}");
    drop(b);
    wait_until(|| server.stats().current == 1).await;
    assert!(
        registry.group_stats("room").is_none(),
        "an empty group keeps no counters"
    );
    assert!(registry.groups_stats().is_empty());
    drop(a);
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_member_closed_on_a_malformed_frame_counts_in_its_groups() {
    let server = group_server().await;
    let (mut a, mut b) = (talk(&server, ip(1), 0).await, talk(&server, ip(2), 0).await);
    say(&server, &mut a, b"JOIN g\n", 1).await;
    say(&server, &mut b, b"JOIN g\n", 2).await;
    // a line past the 8 KiB limit: b is closed with a decode error
    b.write_all(&vec![b'x'; 9 * 1024]).await.unwrap();
    wait_until(|| server.stats().decode_errors == 1).await;
    let g = server.registry().group_stats("g").unwrap();
    assert_eq!((g.connections, g.decode_errors), (1, 1), "{g:?}");
    drop((a, b));
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn handler_timing_fills_a_histogram_only_when_asked() {
    use std::time::Duration as D;
    // a plain handler that takes at least 2 ms for "slow" (a test's stand-in for work)
    let timed = Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, f: Bytes| {
        if f.as_ref() == b"slow" {
            std::thread::sleep(D::from_millis(2));
        }
    })
    .handler_timing(true)
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let (mut io, theirs) = tokio::io::duplex(64 * 1024);
    assert!(timed.adopt(theirs, SocketAddr::new(ip(1), 40_000)).is_ok());
    let mut bytes = Vec::new();
    for p in [&b"slow"[..], b"fast", b"fast", b"fast"] {
        bytes.extend(frame(p));
    }
    io.write_all(&bytes).await.unwrap();
    wait_until(|| timed.stats().messages_in == 4).await;
    let t = timed.stats().handler_time.expect("timed");
    assert_eq!(t.count, 4);
    assert_eq!(t.buckets.iter().map(|(_, n)| n).sum::<u64>(), 4);
    assert!(t.sum_ns >= 2_000_000, "{t:?}");
    // the slowest call's bucket is bounded above 2 ms (a lower bound only: how fast the
    // fast calls were is the machine's business)
    assert!(t.quantile(1.0) > D::from_millis(2), "{t:?}");
    assert!(t.quantile(0.0) <= t.quantile(1.0));
    assert!(timed.stats().to_string().contains("handler time"));
    drop(io);
    timed.shutdown(WAIT).await;
    // not asked: no clock reads, nothing to show
    let untimed = server().await;
    let held = talk(&untimed, ip(2), 3).await;
    wait_until(|| untimed.stats().messages_in == 3).await;
    assert_eq!(untimed.stats().handler_time, None);
    drop(held);
    untimed.shutdown(WAIT).await;
}

/// A line server that times its handler: `JOIN g` joins (answered `ok`), `slow` takes at
/// least a millisecond, every other line comes back.
async fn timed_group_server() -> ServerHandle<Bytes> {
    Server::builder_sync(
        packwire_codecs::LineCodec::new,
        |conn: &Conn<Bytes>, line: Bytes| {
            if let Some(g) = line.strip_prefix(b"JOIN ") {
                conn.registry()?
                    .join_group(conn, &String::from_utf8_lossy(g));
                return Some(Bytes::from_static(b"ok"));
            }
            if line.as_ref() == b"slow" {
                std::thread::sleep(Duration::from_millis(1));
            }
            Some(line)
        },
    )
    .handler_timing(true)
    .bind("127.0.0.1:0")
    .await
    .unwrap()
}

#[tokio::test]
async fn addresses_count_what_was_written_to_them_their_decode_errors_and_handler_time() {
    let server = timed_group_server().await;
    let (mut a, mut b) = (talk(&server, ip(1), 0).await, talk(&server, ip(2), 0).await);
    say(&server, &mut a, b"slow\nhi\n", 2).await;
    wait_until(|| server.ip_stats(ip(1)).messages_out == 2).await;
    let s = server.ip_stats(ip(1));
    assert_eq!((s.messages_in, s.bytes_in), (2, 8), "{s:?}");
    assert_eq!((s.messages_out, s.bytes_out), (2, 8), "{s:?}");
    assert!(s.handler_ns >= 1_000_000, "the slow line took 1 ms: {s:?}");
    assert_eq!(s.decode_errors, 0);
    // a line past the limit closes b: its address counts the decode error, a's does not
    b.write_all(&vec![b'x'; 9 * 1024]).await.unwrap();
    wait_until(|| server.stats().decode_errors == 1).await;
    wait_until(|| server.ip_stats(ip(2)).decode_errors == 1).await;
    assert_eq!(server.ip_stats(ip(1)).decode_errors, 0);
    let top = server.top_ips(1);
    assert_eq!(top.top[0].0, ip(1), "busiest by messages in and out");
    assert_eq!(top.rest.decode_errors, 1);
    drop((a, b));
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_tree_has_groups_addresses_and_connections_each_bounded() {
    let server = timed_group_server().await;
    let mut held = Vec::new();
    // connection k (from 10.0.0.k) joins group gk and says k more lines
    for k in 1..=4u8 {
        let mut io = talk(&server, ip(k), 0).await;
        let mut text = format!("JOIN g{k}\n").into_bytes();
        (0..k).for_each(|_| text.extend_from_slice(b"slow\n"));
        let before = server.stats().messages_in;
        say(&server, &mut io, &text, before + 1 + u64::from(k)).await;
        held.push(io);
    }
    wait_until(|| server.stats().messages_out == 14).await;
    let registry = server.registry();
    let busiest = registry
        .all()
        .into_iter()
        .max_by_key(|c| c.stats().messages_in)
        .unwrap();
    let one = busiest.stats();
    assert_eq!((one.messages_in, one.messages_out), (5, 5), "{one:?}");
    assert_eq!(one.bytes_in, 8 + 4 * 5);
    assert_eq!(one.bytes_out, 3 + 4 * 5, "`ok` and four echoes");
    assert!(one.handler_ns >= 4_000_000, "{one:?}");
    assert!(
        busiest.age() >= Duration::from_millis(4),
        "open through four slow calls"
    );
    let g4 = registry.group_stats("g4").unwrap();
    assert!(g4.handler_ns >= 4_000_000, "{g4:?}");

    let tree = server.stats_tree(2);
    assert_eq!(tree.server.messages_in, 14);
    let names: Vec<&str> = tree.groups.top.iter().map(|(g, _)| g.as_str()).collect();
    assert_eq!(names, ["g4", "g3"]);
    assert_eq!(
        (tree.groups.others, tree.groups.rest.messages_in),
        (2, 2 + 3)
    );
    let ips: Vec<IpAddr> = tree.ips.top.iter().map(|(a, _)| *a).collect();
    assert_eq!(ips, [ip(4), ip(3)]);
    assert_eq!(tree.connections.top[0].0, busiest.id());
    assert_eq!(tree.connections.top[0].1, one);
    assert_eq!(tree.connections.others, 2);
    assert_eq!(tree.connections.rest.messages_in, 2 + 3);
    let text = tree.to_string();
    for part in [
        "groups",
        "├── g4: 1 members",
        "addresses",
        "└── 2 others",
        "handler mean",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    drop(held);
    server.shutdown(WAIT).await;
}
