//! `packwire decode --codec websocket:role=...`, run as a user runs it.

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
