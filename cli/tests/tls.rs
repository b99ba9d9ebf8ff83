//! `packwire cert new`, `packwire serve --tls-cert` and `packwire connect --tls`, run as a
//! user runs them: an echo over TLS with the CA trusted, and refusals that say why.

mod common;

use common::{Server, packwire, start};

/// `packwire serve` over TLS on a free port, with `extra` options; its address.
fn serve(dir: &std::path::Path, extra: &[&str]) -> (Server, String) {
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    let mut args: Vec<std::ffi::OsString> = [
        "serve",
        "--codec",
        "lines",
        "--echo",
        "--listen",
        "127.0.0.1:0",
        "--seconds",
        "20",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.extend([
        "--tls-cert".into(),
        cert.into_os_string(),
        "--tls-key".into(),
        key.into_os_string(),
    ]);
    args.extend(extra.iter().map(Into::into));
    let (server, first) = start(args);
    let addr = first
        .strip_prefix("packwire server listening on ")
        .and_then(|a| a.strip_suffix(" (TLS)"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    (server, addr)
}

fn certs() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "packwire-cli-tls-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let o = packwire(&["cert", "new", "--out", dir.to_str().unwrap()], b"");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    dir
}

#[test]
fn a_tls_echo_in_three_commands_and_a_client_that_does_not_trust_the_server_says_why() {
    let dir = certs();
    let (_server, addr) = serve(&dir, &[]);
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let o = packwire(
        &[
            "connect",
            "--codec",
            "lines",
            &addr,
            "--tls",
            "--tls-ca",
            ca,
            "--tls-name",
            "localhost",
        ],
        b"hello\nover tls\n",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("< hello") && out.contains("< over tls"),
        "{out}"
    );
    // the Mozilla roots do not know the test CA
    let o = packwire(&["connect", "--codec", "lines", &addr, "--tls"], b"x\n");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("certificate"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mutual_tls_from_the_cli_takes_the_client_certificate_and_refuses_none() {
    let dir = certs();
    let ca = dir.join("ca.pem");
    let (_server, addr) = serve(&dir, &["--tls-client-ca", ca.to_str().unwrap()]);
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    let base = [
        "connect",
        "--codec",
        "lines",
        &addr,
        "--tls",
        "--tls-ca",
        ca.to_str().unwrap(),
    ];
    let mut with_cert = base.to_vec();
    with_cert.extend([
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let o = packwire(&with_cert, b"me\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("< me"),
        "{out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // without one the server ends the session: nothing comes back
    let o = packwire(&base, b"me\n");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("< me"), "{out}");
    // a file that is not there is named
    let o = packwire(
        &[
            "serve",
            "--codec",
            "lines",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ],
        b"",
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts `packwire <proto> serve` over TLS and returns it with its port.
fn serve_gateway(dir: &std::path::Path, proto: &str, account: &str) -> (Server, String) {
    let mut args: Vec<std::ffi::OsString> = [
        proto,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--account",
        account,
        "--seconds",
        "20",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.extend([
        "--tls-cert".into(),
        dir.join("server.pem").into_os_string(),
        "--tls-key".into(),
        dir.join("server.key").into_os_string(),
    ]);
    let (server, first) = start(args);
    assert!(first.contains("listening on"), "{first}");
    let port = first.rsplit(':').next().unwrap().to_owned();
    (server, port)
}

#[test]
fn cmpp_and_smpp_send_through_their_simulators_over_tls() {
    let dir = certs();
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let tls = ["--tls", "--tls-ca", ca, "--tls-name", "localhost"];
    // `proto send` with `login` through its simulator over TLS prints `expect`
    let send = |proto: &str, account: &str, login: [&str; 4], expect: &str| {
        let (_server, port) = serve_gateway(&dir, proto, account);
        let mut args = vec![proto, "send", "--port", &port];
        args.extend(login);
        args.extend(["--to", "13800138000", "--text", "hello"]);
        args.extend(tls);
        let o = packwire(&args, b"");
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{out} {err}");
        assert!(out.contains(expect), "{out}");
    };
    send(
        "cmpp",
        "901234:secret",
        ["--account", "901234", "--secret", "secret"],
        "Msg_Id",
    );
    send(
        "smpp",
        "esme01:secret",
        ["--system-id", "esme01", "--password", "secret"],
        "message_id",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
