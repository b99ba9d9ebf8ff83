//! Stopping `packwire serve` loses nothing (issue #14.4): on SIGTERM, SIGINT or at the end
//! of `--seconds` it stops accepting, writes every queued echo, closes with FIN, and only
//! then prints its statistics; every echo it counts as sent reaches a client. The clients
//! pipeline frames as fast as they can and read them back slowly, so queues are full at
//! the moment of the stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

const CLIENTS: usize = 8;

fn start(extra: &[&str]) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["serve", "--codec", "length:strip=4", "--echo"])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn packwire serve");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    (child, addr, out)
}

/// One client: a writer thread pipelines 64-byte frames until the connection ends; the
/// reader counts whole echoes, slowly, until the server's FIN, then shuts its own side.
fn client(addr: &str, started: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = sock.try_clone().unwrap();
    thread::spawn(move || {
        let mut frame = Vec::with_capacity(68);
        frame.extend_from_slice(&64u32.to_be_bytes());
        frame.extend_from_slice(&[0x5a; 64]);
        let batch: Vec<u8> = frame.repeat(64);
        while w.write_all(&batch).is_ok() {}
    });
    thread::spawn(move || {
        let mut sock = sock;
        let mut buf = [0u8; 4096];
        let mut bytes = 0u64;
        loop {
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    bytes += n as u64;
                    started.store(true, Ordering::SeqCst);
                    // a slow reader: the server's queue for it stays full
                    thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("the server reset the connection: {e}"),
            }
        }
        let _ = sock.shutdown(Shutdown::Write);
        assert_eq!(bytes % 68, 0, "a partial echo");
        bytes / 68
    })
}

/// Runs the clients, stops the server with `stop`, and checks the figures.
fn no_echo_is_lost(extra: &[&str], stop: impl FnOnce(&Child)) {
    let (mut child, addr, mut out) = start(extra);
    let started = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| client(&addr, started.clone()))
        .collect();
    for _ in 0..2_000 {
        if started.load(Ordering::SeqCst) {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(500));
    stop(&child);
    let received: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status:?}\n{rest}");
    let sent: u64 = rest
        .lines()
        .find_map(|l| l.split("out: ").nth(1))
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no statistics after the stop:\n{rest}"));
    assert!(sent > 0, "{rest}");
    assert_eq!(
        received, sent,
        "echoes the server wrote but no client got\n{rest}"
    );
    assert!(rest.contains("server_shutdown: 8"), "{rest}");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigterm_stops_gracefully_and_every_echo_written_arrives() {
    no_echo_is_lost(&[], |c| signal(c, "-TERM"));
}

#[test]
fn sigint_stops_gracefully_too() {
    no_echo_is_lost(&[], |c| signal(c, "-INT"));
}

#[test]
fn the_end_of_seconds_loses_no_echo() {
    no_echo_is_lost(&["--seconds", "1"], |_| {});
}

#[test]
fn a_second_signal_stops_at_once() {
    // a client that never reads: the graceful stop waits for its queue
    let (mut child, addr, _out) = start(&[]);
    let mut stuck = TcpStream::connect(&addr).unwrap();
    let big = {
        let mut f = (1u32 << 20).to_be_bytes().to_vec();
        f.extend(std::iter::repeat_n(0u8, 1 << 20));
        f
    };
    stuck
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for _ in 0..8 {
        if stuck.write_all(&big).is_err() {
            break;
        }
    }
    signal(&child, "-INT");
    thread::sleep(Duration::from_millis(300));
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn stats_json_prints_the_final_statistics_as_a_tree() {
    let (mut child, addr, mut out) = start(&["--stats-json"]);
    let echo = |n: usize| {
        let mut sock = TcpStream::connect(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..n {
            sock.write_all(b"\0\0\0\x02hi").unwrap();
            let mut echo = [0u8; 6];
            sock.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, b"\0\0\0\x02hi");
        }
        sock
    };
    drop(echo(3));
    // open while the server stops: in the tree's connections level
    let held = echo(1);
    signal(&child, "-TERM");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let last = rest.lines().last().expect("the statistics");
    let v: serde_json::Value = serde_json::from_str(last).expect(last);
    drop(held);
    assert_eq!(v["server"]["messages_in"], 4, "{v}");
    assert_eq!(v["server"]["messages_out"], 4, "{v}");
    assert_eq!(v["server"]["accepted"], 2, "{v}");
    assert_eq!(v["ips"]["top"][0][0], "127.0.0.1", "{v}");
    let ip = &v["ips"]["top"][0][1];
    assert_eq!(
        (&ip["messages_in"], &ip["messages_out"]),
        (&4.into(), &4.into()),
        "{v}"
    );
    assert_eq!(ip["bytes_out"], 24, "{v}");
    assert_eq!(v["ips"]["others"], 0, "{v}");
    let conns = &v["connections"];
    assert_eq!(conns["top"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(conns["top"][0][1]["messages_in"], 1, "{v}");
    assert_eq!(conns["top"][0][1]["bytes_out"], 6, "{v}");
    assert_eq!(v["groups"]["top"].as_array().map(Vec::len), Some(0), "{v}");
}
