//! The `packwire` binary, run as a user runs it.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::packwire;

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SPLITS: [&str; 5] = ["whole", "bytes", "every:3", "random:1", "random:99"];

/// Decodes `input` with `spec` in every split mode and checks the same JSON comes out.
fn decode_everywhere(spec: &str, input: &[u8]) -> (Vec<serde_json::Value>, i32) {
    let mut first: Option<(Vec<serde_json::Value>, i32)> = None;
    for split in SPLITS {
        let o = packwire(&["decode", "--codec", spec, "--split", split], input);
        let got = (lines(&o), o.status.code().unwrap());
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(&got, f, "{spec} with --split {split}"),
        }
    }
    first.unwrap()
}

fn frame(hex: &str) -> serde_json::Value {
    serde_json::json!({ "len": hex.len() / 2, "hex": hex })
}

#[test]
fn decode_length_frames_in_every_split_mode() {
    let (out, code) = decode_everywhere("length:size=2,strip=2", b"\x00\x02hi\x00\x00\x00\x03abc");
    assert_eq!(code, 0);
    assert_eq!(out, vec![frame("6869"), frame(""), frame("616263")]);
    // defaults: a 4-byte field, the header left out (as LengthFieldCodec::new())
    let (out, _) = decode_everywhere("length", b"\x00\x00\x00\x01z");
    assert_eq!(out, vec![frame("7a")]);
    // strip=0 keeps the whole frame
    let (out, _) = decode_everywhere("length:strip=0", b"\x00\x00\x00\x01z");
    assert_eq!(out, vec![frame("000000017a")]);
    // little-endian, offset, adjust (Netty example 6)
    let (out, _) = decode_everywhere(
        "length:offset=1,size=2,adjust=1,strip=3,endian=be",
        b"\xca\x00\x02\xfeab",
    );
    assert_eq!(out, vec![frame("fe6162")]);
    let (out, _) = decode_everywhere("length:size=varint,strip=1", b"\x02ab\x00");
    assert_eq!(out, vec![frame("6162"), frame("")]);
    let (out, _) = decode_everywhere(
        "length:size=2,endian=le,strip=2,min=2,max=100",
        b"\x01\x00z",
    );
    assert_eq!(out, vec![frame("7a")]);
}

#[test]
fn decode_lines_delimiters_fixed_and_varint() {
    let (out, _) = decode_everywhere("lines", b"a\r\nbc\n");
    assert_eq!(out, vec![frame("61"), frame("6263")]);
    let (out, _) = decode_everywhere("lines:max=8192,keep=true", b"a\r\n");
    assert_eq!(out, vec![frame("610d0a")]);
    let (out, _) = decode_everywhere("delimiter:hex=0d0a/2c2c,max=8192,keep=false", b"a,,b\r\n");
    assert_eq!(out, vec![frame("61"), frame("62")]);
    let (out, _) = decode_everywhere("fixed:size=2", b"abcd");
    assert_eq!(out, vec![frame("6162"), frame("6364")]);
    let (out, _) = decode_everywhere("varint:max=10", b"\x03abc");
    assert_eq!(out, vec![frame("616263")]);
}

#[test]
fn a_decode_error_is_the_last_line_and_exits_3() {
    let (out, code) = decode_everywhere("length:size=1,strip=1,max=4", b"\x01a\x09abcdefghi");
    assert_eq!(code, 3);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], frame("61"));
    let err = &out[1]["error"];
    assert_eq!(err["kind"], "too_large");
    assert_eq!(err["offset"], 2);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("10 bytes declared")
    );

    let (out, code) = decode_everywhere("lines", b"ok\npartial");
    assert_eq!(code, 3);
    assert_eq!(out[1]["error"]["kind"], "truncated");
    assert_eq!(out[1]["error"]["offset"], 3);
}

#[test]
fn decode_reads_a_file_argument() {
    let path = std::env::temp_dir().join(format!("packwire-cli-test-{}.bin", std::process::id()));
    std::fs::write(&path, b"\x00\x00\x00\x02hi").unwrap();
    let o = packwire(
        &[
            "decode",
            "--codec",
            "length:strip=4",
            path.to_str().unwrap(),
        ],
        b"",
    );
    std::fs::remove_file(&path).unwrap();
    assert!(o.status.success());
    assert_eq!(lines(&o), vec![frame("6869")]);
}

#[test]
fn bad_specs_are_refused_with_a_reason() {
    for (spec, needle) in [
        ("length:colour=red", "unknown option \"colour\""),
        ("length:size=5", "width must be 1, 2, 3, 4 or 8"),
        ("length:size=two", "size=two"),
        ("lines:keep=maybe", "true or false"),
        ("delimiter:hex=0g", "not hex"),
        ("delimiter", "hex=... is required"),
        ("fixed:size=0", "at least 1"),
        ("morse", "unknown codec"),
    ] {
        let o = packwire(&["decode", "--codec", spec], b"");
        assert_eq!(o.status.code(), Some(2), "{spec}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{spec}: {err}");
    }
}

/// Starts `packwire serve` on an ephemeral port; returns the child and its address.
fn serve(args: &[&str]) -> (std::process::Child, String) {
    serve_for(args, "20")
}

/// As [`serve`], the server stopping after `seconds`.
fn serve_for(args: &[&str], seconds: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--seconds", seconds])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn packwire serve");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    (child, addr)
}

/// `packwire bench` with two connections, four frames in flight each, for `seconds`.
fn bench(addr: &str, seconds: &str) -> Output {
    packwire(
        &[
            "bench",
            "--connect",
            addr,
            "--conns",
            "2",
            "--inflight",
            "4",
            "--seconds",
            seconds,
        ],
        b"",
    )
}

#[test]
fn serve_and_bench_echo_over_loopback() {
    for extra in [&[][..], &["--baseline"][..]] {
        let mut args = vec!["--codec", "length:strip=4", "--echo"];
        args.extend_from_slice(extra);
        let (mut child, addr) = serve(&args);
        let o = bench(&addr, "1");
        let _ = child.kill();
        let _ = child.wait();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(report["frames"].as_u64().unwrap() > 100, "{report}");
        assert!(report["p99_us"].as_f64().unwrap() >= report["p50_us"].as_f64().unwrap());
    }
}

#[test]
fn bench_against_a_server_that_goes_away_fails_with_its_partial_result() {
    // the server stops after two seconds (the bench prints a progress line each second);
    // the bench would run for twenty
    let (mut server, addr) = serve_for(&["--codec", "length:strip=4", "--echo"], "2");
    let started = std::time::Instant::now();
    let o = bench(&addr, "20");
    let _ = server.kill();
    let _ = server.wait();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the bench ran on after its server went away"
    );
    assert!(
        err.contains("2 of 2 connections failed before the end"),
        "{err}"
    );
    assert!(err.contains("bench: "), "no progress line: {err}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["failed_connections"], 2, "{report}");
    assert!(report["frames"].as_u64().unwrap() > 0, "{report}");
    let why = report["failures"].to_string();
    assert!(why.contains("closed"), "{report}");
}

/// One `GET path` over a fresh connection to `addr`: the whole response as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // read until the body has the length the head announced
    loop {
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(": ")?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.parse().ok())?
                })
                .expect("a Content-Length");
            if body.len() >= len || n == 0 {
                return text;
            }
        }
        assert!(n > 0, "closed early: {text}");
    }
}

#[test]
fn serve_exports_prometheus_metrics_when_asked() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["serve", "--codec", "length:strip=4", "--echo"])
        .args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .args(["--seconds", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn packwire serve");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let server = first.trim().rsplit(' ').next().unwrap().to_string();
    let metrics = second
        .trim()
        .strip_prefix("metrics at http://")
        .and_then(|r| r.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {second:?}"))
        .to_string();
    // one echoed frame, then a scrape
    let mut c = std::net::TcpStream::connect(&server).unwrap();
    c.write_all(&[0, 0, 0, 2, b'h', b'i']).unwrap();
    let mut echo = [0u8; 6];
    std::io::Read::read_exact(&mut c, &mut echo).unwrap();
    let got = http_get(&metrics, "/metrics");
    let missing = http_get(&metrics, "/nope");
    let _ = child.kill();
    let _ = child.wait();
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    assert!(
        got.contains("packwire_connections_accepted_total{endpoint=\"serve\"} 1"),
        "{got}"
    );
    assert!(
        got.contains("packwire_messages_received_total{endpoint=\"serve\"} 1"),
        "{got}"
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

/// Starts `packwire cmpp serve` with `args` on an ephemeral port: the child, its stdout
/// after the "listening" line, and its address.
fn spawn_ismg(
    args: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
    String,
) {
    use std::io::BufRead;
    let mut ismg = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["cmpp", "serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn packwire cmpp serve");
    let mut out = std::io::BufReader::new(ismg.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    (ismg, out, addr)
}

/// An ISMG (account 901234, secret s3cret) that stops after one second: the child and its
/// port. What it prints is read and dropped (a full pipe would stall its event loop).
fn ismg_for_one_second() -> (std::process::Child, String) {
    let (ismg, mut out, addr) = spawn_ismg(&["--seconds", "1", "--account", "901234:s3cret"]);
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (ismg, addr.rsplit(':').next().unwrap().to_string())
}

#[test]
fn cmpp_bench_against_an_ismg_that_goes_away_fails_with_its_partial_result() {
    // the ISMG stops after one second; the bench would run for three
    let (mut ismg, port) = ismg_for_one_second();
    let o = packwire(
        &[
            "cmpp",
            "bench",
            "--port",
            &port,
            "--account",
            "901234",
            "--secret",
            "s3cret",
            "--seconds",
            "3",
        ],
        b"",
    );
    let _ = ismg.kill();
    let _ = ismg.wait();
    let err = String::from_utf8_lossy(&o.stderr);
    let got = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{err} {got}");
    assert!(err.contains("lost before the end"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["lost_connections"], 1, "{report}");
    assert!(report["submits"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn cmpp_send_waiting_for_reports_from_an_ismg_that_goes_away_stops_with_an_error() {
    // the ISMG stops after one second and sends no reports; the SP would wait 30 s for each
    let (mut ismg, port) = ismg_for_one_second();
    let started = std::time::Instant::now();
    let o = packwire(
        &[
            "cmpp",
            "send",
            "--port",
            &port,
            "--account",
            "901234",
            "--secret",
            "s3cret",
            "--to",
            "13800138000",
            "--text",
            "hi",
            "--wait",
            "30",
        ],
        b"",
    );
    let _ = ismg.kill();
    let _ = ismg.wait();
    let err = String::from_utf8_lossy(&o.stderr);
    let got = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{err} {got}");
    assert!(err.contains("the ISMG went away"), "{err}");
    assert!(got.contains("none, the ISMG went away"), "{got}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "waited on for a gone ISMG"
    );
}

#[test]
fn cmpp_send_through_cmpp_serve_gets_msg_ids_and_reports() {
    use std::io::{BufRead, Read};
    let (mut ismg, mut out, addr) = spawn_ismg(&[
        "--seconds",
        "8",
        "--account",
        "901234:s3cret",
        "--reports",
        "--trace",
    ]);
    let port = addr.rsplit(':').next().unwrap();
    for version in ["2", "3"] {
        let o = packwire(
            &[
                "cmpp",
                "send",
                "--port",
                port,
                "--account",
                "901234",
                "--secret",
                "s3cret",
                "--version",
                version,
                "--to",
                "13800138000",
                "--text",
                "你好 packwire",
                "--wait",
                "5",
            ],
            b"",
        );
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(text.contains("part 1/1: Msg_Id "), "{text}");
        assert!(text.contains("to 13800138000: DELIVRD"), "{text}");
    }
    let bad = packwire(
        &[
            "cmpp",
            "send",
            "--port",
            port,
            "--account",
            "901234",
            "--secret",
            "nope",
            "--to",
            "1",
            "--text",
            "x",
        ],
        b"",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("status 3"));
    // read what the ISMG printed up to the refusal (it stops by itself after --seconds,
    // so this ends either way), then stop it
    let mut log = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        log.push_str(&line);
        if line.contains("[refused]") {
            break;
        }
    }
    let _ = ismg.kill();
    let _ = ismg.wait();
    let mut rest = String::new();
    let _ = out.read_to_string(&mut rest);
    log.push_str(&rest);
    assert!(log.contains("[login] 901234 CMPP 0x20"), "{log}");
    assert!(log.contains("[login] 901234 CMPP 0x30"), "{log}");
    assert!(
        log.contains("[message] 901234 -> 13800138000 (1 part(s)): 你好 packwire"),
        "{log}"
    );
    assert!(log.contains("[refused]"), "{log}");
    // --trace prints the PDUs both ways as JSON
    assert!(log.contains("<- {") && log.contains("-> {"), "{log}");
}

/// `packwire connect --codec CODEC` to an echoing `packwire serve --codec CODEC`, with
/// `stdin`; `host` turns the address into `host:port`. What connect printed.
fn echo_through(codec: &str, host: Option<&str>, stdin: &[u8]) -> String {
    let (mut child, addr) = serve(&["--codec", codec, "--echo"]);
    let target = match host {
        Some(h) => format!("{h}:{}", addr.rsplit(':').next().unwrap()),
        None => addr,
    };
    let o = packwire(&["connect", "--codec", codec, &target], stdin);
    let _ = child.kill();
    let _ = child.wait();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out} {err}");
    out
}

#[test]
fn connect_sends_stdin_lines_and_prints_the_replies() {
    let out = echo_through("lines", None, b"hello\nworld\n");
    assert!(out.contains("< hello") && out.contains("< world"), "{out}");
}

#[test]
fn serve_and_connect_with_the_default_length_spec_round_trip() {
    // one default for strip (the header) in the SPEC, new() and builder(): the echo comes
    // back framed once
    let out = echo_through("length", None, b"hello\n");
    assert!(out.lines().any(|l| l == "< hello"), "{out}");
}

#[test]
fn connect_takes_host_names_and_sends_non_utf8_lines_as_they_are() {
    let out = echo_through("lines", Some("localhost"), b"caf\xe9\nplain\n");
    // the Latin-1 byte went out and came back unchanged; the next line too
    assert!(
        out.contains("< hex 636166e9") && out.contains("< plain"),
        "{out}"
    );
}

#[test]
fn failures_say_what_failed_and_exit_1() {
    // a refused connection, in words
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = packwire(
        &["connect", "--codec", "lines", &format!("127.0.0.1:{port}")],
        b"",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("ConnectFailed"), "{err}");
    // a missing file, by its path
    let o = packwire(&["decode", "--codec", "lines", "/no/such/file.bin"], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/no/such/file.bin"), "{err}");
    // an address in use, by the address
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = packwire(
        &[
            "serve",
            "--codec",
            "lines",
            "--listen",
            &addr,
            "--seconds",
            "1",
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&addr), "{err}");
    // usage errors are 2
    let o = packwire(&["connect", "--codec", "nonsense", "127.0.0.1:1"], b"");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = packwire(&["serve", "--no-such-flag"], b"");
    assert_eq!(o.status.code(), Some(2));
    for bad in [["--conns", "0"], ["--size", "4"]] {
        let mut args = vec!["bench", "--connect", "127.0.0.1:1", "--seconds", "1"];
        args.extend_from_slice(&bad);
        let o = packwire(&args, b"");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains(bad[0]), "{err}");
    }
}

/// Runs `packwire serve` with `flags`, sends one frame that breaks the length limit, and
/// returns what the server wrote on stderr once stopped.
fn serve_log_of_a_bad_frame(flags: &[&str]) -> String {
    use std::io::{BufRead, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args([
            "serve",
            "--codec",
            "length:max=8",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--seconds", "20"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(&[0, 0, 0, 100]).unwrap();
    // the server closes the connection: its EOF says the close (and its log line) is done
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[test]
fn a_failed_connection_logs_one_line_saying_why() {
    let err = serve_log_of_a_bad_frame(&[]);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("connection failed"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("frame too large"),
        "{err}"
    );
    assert!(lines[0].contains("peer=127.0.0.1:"), "{err}");
    // -q keeps only errors
    let err = serve_log_of_a_bad_frame(&["-q"]);
    assert!(!err.contains("connection failed"), "{err}");
}

#[test]
fn serve_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    // `packwire serve --codec lines | head -1`: the reader goes after one line
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args(["serve", "--codec", "lines", "--listen", "127.0.0.1:0"])
        .args(["--seconds", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while first.last() != Some(&b'\n') {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1);
        first.push(byte[0]);
    }
    let first = String::from_utf8(first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    drop(stdout);
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    // enough lines that printing them must hit the closed pipe (the server may be gone
    // before all are written: that is the point)
    for _ in 0..200 {
        if c.write_all(b"line\n").is_err() {
            break;
        }
    }
    let mut deadline = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        deadline += 1;
        assert!(deadline < 200, "serve kept running after its reader went");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn serve_refuses_a_protocol_spec() {
    let o = packwire(
        &[
            "serve",
            "--codec",
            "http-request",
            "--listen",
            "127.0.0.1:0",
            "--seconds",
            "1",
        ],
        b"",
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("take a framing"));
}

#[test]
fn the_demo_runs_and_checks_itself() {
    let o = packwire(&["demo"], b"");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("server decoded all 5 frames exactly as sent"),
        "{out}"
    );
    assert!(
        out.contains("closed with a typed error (too_large)"),
        "{out}"
    );
    // the runtime part in the order it happened: the failed reconnects while the server
    // is down come before it starts again, the reconnect after; the statistics are taken
    // while the client is still connected
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {out}"))
    };
    assert!(
        at("stopping the server") < at("could not connect to"),
        "{out}"
    );
    assert!(
        at("could not connect to") < at("starting the server again"),
        "{out}"
    );
    assert!(
        at("starting the server again") < at("reconnected to"),
        "{out}"
    );
    assert!(
        at("reconnected to") < at("the client still connected"),
        "{out}"
    );
}

#[test]
fn help_lists_the_spec_grammar_and_version_prints() {
    let o = packwire(&["decode", "--help"], b"");
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("length:offset=0,size=4"), "{help}");
    let o = packwire(&["--version"], b"");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("packwire 0.1.0"));
}

mod cmpp {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use packwire_codecs::cmpp::{Body, CmppCodec, Deliver, MsgId, Pdu, Report, Version};
    use tokio_util::codec::Encoder;

    const G4: &str = include_str!("data/G4.hex");

    fn unhex(s: &str) -> Vec<u8> {
        let s = s.trim();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn decode_a_cmpp2_submit_in_every_split_mode() {
        let (out, code) = decode_everywhere("cmpp2", &unhex(G4));
        assert_eq!(code, 0);
        let p = &out[0];
        assert_eq!(p["command"], "CMPP_SUBMIT");
        assert_eq!(p["command_id"], "0x00000004");
        assert_eq!(p["sequence_id"], 23);
        let b = &p["body"];
        assert_eq!(b["msg_id"], 0);
        assert_eq!(b["service_id"], "test");
        assert_eq!(b["dest_terminal_ids"], serde_json::json!(["13500002696"]));
        assert_eq!(b["msg_fmt"], 8);
        assert_eq!(b["text"], "测试gocmpp submit");
        assert_eq!(
            b["msg_content"],
            "6d4b8bd50067006f0063006d007000700020007300750062006d00690074"
        );
        assert!(
            b.get("fee_terminal_type").is_none(),
            "3.0-only fields are not shown for 2.0"
        );
    }

    #[test]
    fn decode_a_cmpp3_report_whatever_its_layout() {
        let report = Report {
            msg_id: MsgId(0xb4c5530000010000),
            stat: Bytes::from_static(b"DELIVRD"),
            submit_time: Bytes::from_static(b"1511120955"),
            done_time: Bytes::from_static(b"1511120957"),
            dest_terminal_id: Bytes::from_static(b"13412340000"),
            smsc_sequence: 305419896,
        };
        let mut wire = BytesMut::new();
        for layout in [Version::V20, Version::V30] {
            let d = Deliver {
                msg_id: MsgId(7),
                registered_delivery: 1,
                src_terminal_id: Bytes::from_static(b"13412340000"),
                msg_content: report.encode(layout).unwrap(),
                ..Deliver::default()
            };
            CmppCodec::new(Version::V30)
                .encode(Pdu::new(2, Body::Deliver(Box::new(d))), &mut wire)
                .unwrap();
        }
        let (out, code) = decode_everywhere("cmpp3", &wire);
        assert_eq!(code, 0);
        assert_eq!(out.len(), 2);
        for p in &out {
            let r = &p["body"]["report"];
            assert_eq!(r["msg_id"], 13025908756704198656u64);
            assert_eq!(r["stat"], "DELIVRD");
            assert_eq!(r["dest_terminal_id"], "13412340000");
            assert_eq!(r["smsc_sequence"], 305419896);
            assert_eq!(p["body"]["src_terminal_type"], 0);
        }
    }

    #[test]
    fn a_bad_cmpp_pdu_reports_where_it_started() {
        let mut wire = unhex("0000000c0000000800000001");
        wire.extend(unhex("0000000b00000008000000"));
        let (out, code) = decode_everywhere("cmpp3", &wire);
        assert_eq!(code, 3);
        assert_eq!(out[0]["command"], "CMPP_ACTIVE_TEST");
        assert_eq!(out[1]["error"]["kind"], "too_short");
        assert_eq!(out[1]["error"]["offset"], 12);
    }
}

mod smpp {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// From PyPI smpplib 2.2.4 (as codecs/tests/data/smpp/submit_sm.hex).
    const SUBMIT_SM: &str = "0000003b0000000400000000000000020005007061636b7769726500010138363133383030313338303030000000000000010000000568656c6c6f";
    /// From PyPI smpplib 2.2.4 (as codecs/tests/data/smpp/deliver_sm_receipt.hex).
    const RECEIPT: &str = "000000b100000005000000000000000b000101383631333830303133383030300005007061636b77697265000400000000000000006969643a3061316232633364207375623a30303120646c7672643a303031207375626d697420646174653a3236313230333132303020646f6e6520646174653a3236313230333132303120737461743a44454c49565244206572723a30303020746578743a68656c6c6f0427000102001e0009306131623263336400";

    #[test]
    fn decode_smpp_pdus_with_spec_names_and_tlvs_by_name() {
        // a submit_sm from PyPI smpplib, and a deliver_sm receipt with two TLVs
        let mut wire = unhex(SUBMIT_SM);
        wire.extend(unhex(RECEIPT));
        let (out, code) = decode_everywhere("smpp", &wire);
        assert_eq!(code, 0);
        assert_eq!(out.len(), 2);
        let s = &out[0];
        assert_eq!(s["command"], "submit_sm");
        assert_eq!(s["command_id"], "0x00000004");
        assert_eq!(
            (&s["command_status"], &s["sequence_number"]),
            (&0.into(), &2.into())
        );
        let b = &s["body"];
        assert_eq!(b["source_addr"], "packwire");
        assert_eq!(b["source_addr_ton"], 5);
        assert_eq!(b["destination_addr"], "8613800138000");
        assert_eq!(b["registered_delivery"], 1);
        assert_eq!(b["text"], "hello");
        let r = &out[1]["body"];
        assert_eq!(r["esm_class"], 4);
        assert_eq!(r["tlvs"][0]["tag"], "message_state");
        assert_eq!(r["tlvs"][1]["tag"], "receipted_message_id");
        assert_eq!(r["tlvs"][1]["value"], "306131623263336400");
    }

    #[test]
    fn a_bad_smpp_pdu_is_a_typed_error_after_the_good_ones() {
        let mut wire = unhex("00000010000000150000000000000001");
        wire.extend(unhex("000000110000001500000000000000020a"));
        let (out, code) = decode_everywhere("smpp", &wire);
        assert_eq!(code, 3);
        assert_eq!(out[0]["command"], "enquire_link");
        assert_eq!(out[1]["error"]["kind"], "malformed");
    }
}

mod http {
    use super::*;

    #[test]
    fn decode_pipelined_requests_in_every_split_mode() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\nX-L: caf\xe9\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nT: 1\r\n\r\n";
        let (out, code) = decode_everywhere("http-request", input);
        assert_eq!(code, 0);
        assert_eq!(out[0]["method"], "GET");
        assert_eq!(out[0]["target"], "/a");
        assert_eq!(out[0]["version"], "HTTP/1.1");
        assert_eq!(
            out[0]["headers"],
            serde_json::json!([["Host", "x"], ["X-L", "caf\u{e9}"]])
        );
        assert_eq!(out[0]["body_b64"], "");
        assert!(out[0].get("trailers").is_none());
        assert_eq!(out[1]["version"], "HTTP/1.1");
        assert_eq!(out[1]["body_b64"], "aGk=");
        assert_eq!(out[1]["trailers"], serde_json::json!([["T", "1"]]));
        // the same body framing on HTTP/1.0 is faulty (RFC 9112 6.1): refused, typed
        let (out, code) = decode_everywhere(
            "http-request",
            b"POST /b HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        );
        assert_eq!(code, 3);
        assert!(
            out[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Transfer-Encoding in an HTTP/1.0 request"),
            "{out:?}"
        );
    }

    #[test]
    fn decode_split_bytes_memory_follows_the_frame_not_the_input() {
        // 16 MiB of short lines, fed one byte at a time: a list of cut lengths would cost
        // 128 MiB; reading the input as it is fed keeps the process small
        use std::io::Write;
        let line = b"a line of forty bytes, give or take....\n";
        let input: Vec<u8> = line.repeat(16 * 1024 * 1024 / line.len());
        let mut child = Command::new(env!("CARGO_BIN_EXE_packwire"))
            .args(["decode", "--codec", "lines", "--split", "bytes"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let hwm = || -> Option<u64> {
            let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            l.split_whitespace().nth(1)?.parse().ok()
        };
        let mut peak = 0;
        let status = loop {
            peak = peak.max(hwm().unwrap_or(0));
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        writer.join().unwrap();
        assert!(status.success());
        assert!(peak > 0, "never saw the process");
        assert!(peak < 48 * 1024, "peak RSS {peak} KiB for a 16 MiB input");
    }

    #[test]
    fn decode_responses_with_their_request_methods() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\nuntil close";
        let (out, code) = decode_everywhere("http-response:methods=HEAD/GET", input);
        assert_eq!(code, 0);
        let statuses: Vec<_> = out.iter().map(|m| m["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, vec![100, 200, 200, 200]);
        assert_eq!(
            out[1]["body_b64"], "",
            "HEAD: no body despite Content-Length"
        );
        assert_eq!(out[2]["body_b64"], "YWJj");
        assert_eq!(out[3]["body_b64"], "dW50aWwgY2xvc2U=");
    }

    #[test]
    fn an_incomplete_message_is_an_error_and_upgraded_bytes_are_left_alone() {
        let (out, code) = decode_everywhere(
            "http-request",
            b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc",
        );
        assert_eq!(code, 3);
        assert_eq!(out[0]["method"], "GET");
        assert_eq!(out[1]["error"]["kind"], "truncated");
        assert_eq!(
            out[1]["error"]["offset"], 59,
            "the body bytes were consumed; the stream ends there"
        );
        let (out, code) = decode_everywhere("http-request", b"GET /a b HTTP/1.1\r\n\r\n");
        assert_eq!(code, 3);
        assert_eq!(out[0]["error"]["kind"], "malformed");
        let (out, code) = decode_everywhere(
            "http-response:methods=GET",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        );
        assert_eq!(code, 0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["status"], 101);
    }
}

#[test]
fn smpp_send_through_smpp_serve_gets_ids_and_receipts_and_a_bad_password_fails() {
    use std::io::BufRead;
    let mut smsc = Command::new(env!("CARGO_BIN_EXE_packwire"))
        .args([
            "smpp",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--account",
            "esme01:secret",
        ])
        .args(["--reports", "--seconds", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn packwire smpp serve");
    let mut out = std::io::BufReader::new(smsc.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("SMPP SMSC listening on "), "{first}");
    let port = first.trim().rsplit(':').next().unwrap().to_string();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let send = |password: &str, text: &str| {
        packwire(
            &[
                "smpp",
                "send",
                "--port",
                &port,
                "--system-id",
                "esme01",
                "--password",
                password,
                "--to",
                "13800138000",
                "--text",
                text,
                "--wait",
                "5",
            ],
            b"",
        )
    };
    let long = "long text ".repeat(20);
    let o = send("secret", &long);
    let got = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{got} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(got.contains("part 1/2: message_id"), "{got}");
    assert!(got.contains("part 2/2: message_id"), "{got}");
    assert_eq!(got.matches(": DELIVRD").count(), 2, "{got}");
    let o = send("wrong", "hi");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("bind refused: ESME_RINVPASWD"), "{err}");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "smpp",
            "bench",
            "--port",
            &port,
            "--system-id",
            "esme01",
            "--password",
            "secret",
            "--seconds",
            "1",
        ];
        args.extend_from_slice(extra);
        packwire(&args, b"")
    };
    let o = bench(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["submits"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["lost_connections"], 0, "{report}");
    assert_eq!(
        bench(&["--conns", "0"]).status.code(),
        Some(2),
        "a usage error"
    );
    let _ = smsc.kill();
    let _ = smsc.wait();
}

#[test]
fn cmpp_serve_is_quiet_per_submit_without_trace() {
    use std::io::Read;
    let (mut ismg, mut out, addr) = spawn_ismg(&["--seconds", "3", "--account", "901234:s3cret"]);
    let port = addr.rsplit(':').next().unwrap();
    let o = packwire(
        &[
            "cmpp",
            "send",
            "--port",
            port,
            "--account",
            "901234",
            "--secret",
            "s3cret",
            "--to",
            "13800138000",
            "--text",
            "hi",
        ],
        b"",
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut log = String::new();
    out.read_to_string(&mut log).unwrap();
    let _ = ismg.wait();
    assert!(log.contains("[login] 901234"), "{log}");
    assert!(log.contains("[message] 901234 -> 13800138000"), "{log}");
    assert!(
        !log.contains("[submit]"),
        "a line per SUBMIT only with --trace: {log}"
    );
}
