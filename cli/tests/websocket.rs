//! `packwire decode --codec websocket:role=...`, run as a user runs it.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

fn decode(spec: &str, input: &[u8]) -> (String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["decode", "--codec", spec, "--split", "bytes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        String::from_utf8(o.stdout).unwrap(),
        o.status.code().unwrap(),
    )
}

#[test]
fn decode_prints_websocket_messages_for_either_role_and_stops_at_a_broken_rule() {
    // a masked "Hello" (RFC 6455 section 5.7), then a ping, from a client
    let mut client = vec![
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    client.extend([0x89, 0x80, 1, 2, 3, 4]);
    let (out, code) = decode("websocket:role=server", &client);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["text"], "Hello");
    assert_eq!(lines[1]["type"], "ping");
    // the same bytes read by a client: masked frames are refused, exit 3
    let (out, code) = decode("websocket:role=client", &client);
    assert_eq!(code, 3);
    assert!(
        out.contains("a server's frames must not be masked"),
        "{out}"
    );
    // an unmasked close with code 1000 and a reason, read by a client
    let (out, code) = decode("websocket:role=client", b"\x88\x05\x03\xe8bye");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["code"].as_u64(), v["reason"].as_str()),
        (Some(1000), Some("bye"))
    );
    let (_, code) = decode("websocket:role=other", b"");
    assert_ne!(code, 0);
}

#[test]
fn ws_serve_echo_answers_the_handshake_pings_messages_and_the_close() {
    use std::io::Read;
    use std::net::TcpStream;
    let (_server, url) = echo_server(false);
    let addr = url.trim_start_matches("ws://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut wire =
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
    // a masked "Hello", a masked ping "p", a masked close 1000
    wire.extend([
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    wire.extend([0x89, 0x81, 0, 0, 0, 0, b'p']);
    wire.extend([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    s.write_all(&wire).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{text}"
    );
    let frames = &got[text.find("\r\n\r\n").unwrap() + 4..];
    // unmasked: the echo, the pong, the close answer, then the server closed
    assert_eq!(
        frames,
        [
            &[0x81, 5][..],
            b"Hello",
            &[0x8a, 1, b'p'],
            &[0x88, 2, 0x03, 0xe8]
        ]
        .concat()
    );
}

/// `ws serve --echo` (with `--deflate` when `deflate`) for 20 s, and the URL it serves.
fn echo_server(deflate: bool) -> (common::Server, String) {
    let mut args = vec![
        "ws",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--echo",
        "--seconds",
        "20",
    ];
    if deflate {
        args.push("--deflate");
    }
    let (server, first) = common::start(args);
    let url = first.rsplit(' ').next().unwrap().to_owned();
    (server, url)
}

#[test]
fn ws_connect_talks_to_ws_serve_plain_and_compressed() {
    for deflate in [false, true] {
        let (_server, url) = echo_server(deflate);
        let mut args = vec!["ws", "connect", url.as_str()];
        if deflate {
            args.push("--deflate");
        }
        let mut c = Command::new(env!("CARGO_BIN_EXE_packwire"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all("hello\nκόσμε\n".as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            text.contains("< hello\n< κόσμε\n"),
            "deflate {deflate}: {text}"
        );
        assert!(text.contains("< close Some(1000)"), "{text}");
    }
    // a URL that is not one
    let o = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["ws", "connect", "http://x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn a_graceful_stop_sends_close_1001_to_upgraded_connections() {
    use std::io::Read;
    use std::net::TcpStream;
    let (_server, first) =
        common::start(["ws", "serve", "--listen", "127.0.0.1:0", "--seconds", "1"]);
    let addr = first.rsplit("ws://").next().unwrap().to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    // the 101, then (when --seconds runs out) the close, then the end of the stream
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"HTTP/1.1 101 "));
    let close = &got[head_end..];
    assert_eq!(close[0], 0x88, "{close:?}");
    assert_eq!(&close[2..4], &1001u16.to_be_bytes());
}

const UPGRADE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The heartbeat: pings after a second of write silence, and a peer that answers none
/// (and says nothing) is closed after three.
#[test]
fn ws_serve_pings_and_closes_a_silent_peer() {
    use std::io::Read;
    let (_server, first) = common::start([
        "ws",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--ping",
        "1",
        "--seconds",
        "30",
    ]);
    let addr = first.rsplit("ws://").next().unwrap().to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(UPGRADE).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"HTTP/1.1 101 "));
    let frames = &got[head_end..];
    // nothing but empty pings, at least one, then the end of the stream
    assert!(!frames.is_empty(), "no ping came");
    assert!(frames.chunks(2).all(|f| f == [0x89, 0x00]), "{frames:02x?}");
}

/// A graceful stop is a closing handshake with a deadline: after its close 1001 the
/// server still reads what the peer sends until the peer's close comes back.
#[test]
fn a_graceful_stop_waits_for_the_peers_close() {
    use std::io::{BufRead, Read};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["ws", "serve", "--listen", "127.0.0.1:0", "--seconds", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let server = common::Server(child);
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit("ws://").next().unwrap().to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(UPGRADE).unwrap();
    // read the 101 and the close 1001 (its reason is "server stopping")
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == [0x88, 17]) || got.len() < head_len(&got) + 19 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the close frame: {got:02x?}");
        got.extend_from_slice(&buf[..n]);
    }
    // a last message, then the close answer (both masked with a zero key)
    let mut answer = vec![0x81, 0x8a, 0, 0, 0, 0];
    answer.extend_from_slice(b"last words");
    answer.extend([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]);
    s.write_all(&answer).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let mut printed = String::new();
    out.read_to_string(&mut printed).unwrap();
    assert!(printed.contains("last words"), "{printed}");
    drop(server);
}

fn head_len(got: &[u8]) -> usize {
    got.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(usize::MAX / 2, |p| p + 4)
}

#[test]
fn bench_ws_loads_ws_serve_plain_and_compressed_and_fails_when_deflate_is_declined() {
    for server_deflates in [false, true] {
        let (_server, url) = echo_server(server_deflates);
        let addr = url
            .trim_start_matches("ws://")
            .trim_end_matches('/')
            .to_owned();
        for bench_deflates in [false, true] {
            let mut args = vec![
                "bench",
                "--ws",
                "--connect",
                &addr,
                "--conns",
                "2",
                "--inflight",
                "2",
                "--size",
                "300",
                "--seconds",
                "1",
            ];
            if bench_deflates {
                args.push("--deflate");
            }
            let o = common::packwire(&args, b"");
            let err = String::from_utf8_lossy(&o.stderr);
            let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            if bench_deflates && !server_deflates {
                // a compressed row that would not be one is an error, not a result
                assert_eq!(o.status.code(), Some(1), "{err}");
                assert!(
                    report["failures"]
                        .to_string()
                        .contains("declined permessage-deflate"),
                    "{report}"
                );
            } else {
                assert!(o.status.success(), "{err}");
                assert!(report["frames"].as_u64().unwrap() > 10, "{report}");
            }
        }
    }
}
