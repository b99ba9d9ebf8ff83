//! TLS on loopback: echo through a length framing and lines, mutual TLS accepted and
//! refused, a wrong server name refused by the client, a handshake that never ends closed
//! at its deadline, one byte per TLS record, certificate reload, and configuration errors
//! that name their file. Certificates are made by rcgen for each test; every wait is
//! bounded and every server stopped.
#![cfg(feature = "tls")]

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::{LengthFieldCodec, LineCodec};
use packwire_net::tls::{TlsAcceptor, TlsClientConfig, TlsError, TlsServerConfig, rustls};
use packwire_net::{Client, ClientEvent, Conn, Server, ServerHandle};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Decoder, Encoder};

const WAIT: Duration = Duration::from_secs(10);

/// A CA and what it signed.
struct Pki {
    ca: CertificateDer<'static>,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

type Pair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki {
            ca: issuer.der().clone(),
            issuer,
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) and its key.
    fn leaf(&self, names: &[&str]) -> Pair {
        self.leaf_pem(names).2
    }

    /// The same, with the certificate and the key as PEM.
    fn leaf_pem(&self, names: &[&str]) -> (String, String, Pair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            cert.pem(),
            key.serialize_pem(),
            (
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            ),
        )
    }

    /// A certificate for `name` that expired in 2021.
    fn expired(&self, name: &str) -> Pair {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(self.ca.clone()).unwrap();
        r
    }
}

fn clone_pair(p: &Pair) -> Pair {
    (p.0.clone(), p.1.clone_key())
}

/// A length-framing echo over TLS; the handler answers each frame with the number of
/// certificates the client presented, then the frame.
async fn echo(acceptor: TlsAcceptor) -> ServerHandle<Bytes> {
    Server::builder_sync(LengthFieldCodec::new, |c: &Conn<Bytes>, f: Bytes| {
        let certs = c.tls().map_or(0, |t| t.peer_certificates.len());
        let mut out = vec![certs as u8];
        out.extend_from_slice(&f);
        Some(Bytes::from(out))
    })
    .tls(acceptor)
    .bind("127.0.0.1:0")
    .await
    .unwrap()
}

/// A raw TLS client (tokio-rustls) to `addr`, trusting `pki`, presenting `client`.
async fn raw_client(
    addr: std::net::SocketAddr,
    pki: &Pki,
    client: Option<Pair>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut s = raw_connect(addr, pki, "localhost", &[], client).await?;
    // TLS 1.3 sends the server's verdict on a client certificate after the handshake:
    // a round trip settles it
    s.flush().await?;
    Ok(s)
}

/// A raw TLS client asking for `name` (SNI) and offering `alpn`.
async fn raw_connect(
    addr: std::net::SocketAddr,
    pki: &Pki,
    name: &str,
    alpn: &[&[u8]],
    client: Option<Pair>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(pki.roots());
    let mut cfg = match client {
        Some((chain, key)) => b.with_client_auth_cert(chain, key).unwrap(),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
}

/// Writes `frames` through `s` (each byte in its own record when `byte_records`) and
/// reads back as many echoed frames.
async fn round_trip(
    s: &mut tokio_rustls::client::TlsStream<TcpStream>,
    frames: &[&[u8]],
    byte_records: bool,
) -> std::io::Result<Vec<Bytes>> {
    let mut codec = LengthFieldCodec::new();
    let mut wire = BytesMut::new();
    for f in frames {
        codec.encode(Bytes::copy_from_slice(f), &mut wire).unwrap();
    }
    if byte_records {
        for b in wire.iter() {
            s.write_all(&[*b]).await?;
            s.flush().await?;
        }
    } else {
        s.write_all(&wire).await?;
        s.flush().await?;
    }
    let mut got = Vec::new();
    let mut buf = BytesMut::new();
    timeout(WAIT, async {
        while got.len() < frames.len() {
            if s.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        Ok(())
    })
    .await
    .expect("the echo in time")?;
    Ok(got)
}

#[tokio::test]
async fn a_length_framing_echoes_over_tls_whole_and_one_byte_per_record() {
    let pki = Pki::new("test CA");
    let (chain, key) = pki.leaf(&["localhost", "127.0.0.1"]);
    let acceptor = TlsServerConfig::new(chain, key).unwrap().build().unwrap();
    let server = echo(acceptor.clone()).await;
    let mut s = raw_client(server.local_addr(), &pki, None).await.unwrap();
    let got = round_trip(&mut s, &[b"hello", b"", b"over tls"], false)
        .await
        .unwrap();
    assert_eq!(got, [&b"\0hello"[..], b"\0", b"\0over tls"]);
    // half packets through TLS records: every byte of two frames in a record of its own
    let got = round_trip(&mut s, &[b"half", b"sticky"], true)
        .await
        .unwrap();
    assert_eq!(got, [&b"\0half"[..], b"\0sticky"]);
    let st = acceptor.stats().snapshot();
    assert_eq!((st.ok, st.failed, st.timed_out), (1, 0, 0));
    assert_eq!(st.versions, [("TLSv1_3".to_owned(), 1)]);
    assert_eq!(st.suites.len(), 1);
    drop(s);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn lines_echo_over_tls_through_the_runtimes_own_client() {
    let pki = Pki::new("test CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let acceptor = TlsServerConfig::new(chain, key).unwrap().build().unwrap();
    let server = Server::builder_sync(LineCodec::new, |_: &Conn<Bytes>, l: Bytes| Some(l))
        .tls(acceptor)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let connector = TlsClientConfig::with_roots(pki.roots())
        .server_name("localhost")
        .unwrap()
        .build()
        .unwrap();
    let mut client = Client::builder(LineCodec::new, move |_: Conn<Bytes>, l: Bytes| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(l);
        }
    })
    .node(server.local_addr())
    .tls(connector)
    .start();
    let ev = timeout(WAIT, client.next_event()).await.unwrap().unwrap();
    assert!(matches!(ev, ClientEvent::Connected { .. }), "{ev:?}");
    for l in ["one", "two", "three"] {
        client.send(Bytes::from(l)).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(timeout(WAIT, rx.recv()).await.unwrap().unwrap());
    }
    assert_eq!(got, ["one", "two", "three"]);
    client.shutdown().await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn mutual_tls_takes_the_cas_clients_and_refuses_the_others() {
    let pki = Pki::new("test CA");
    let other = Pki::new("another CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let acceptor = TlsServerConfig::new(chain, key)
        .unwrap()
        .client_ca(pki.roots())
        .build()
        .unwrap();
    let server = echo(acceptor.clone()).await;
    let addr = server.local_addr();
    // a client of the CA: accepted, its certificate readable on the connection
    let mut s = raw_client(addr, &pki, Some(pki.leaf(&["client.example"])))
        .await
        .unwrap();
    let got = round_trip(&mut s, &[b"me"], false).await.unwrap();
    assert_eq!(got, [&b"\x01me"[..]], "one certificate presented");
    // no certificate, and one from another CA: refused (the refusal may reach the
    // client only when it reads)
    for client in [None, Some(other.leaf(&["client.example"]))] {
        let refused = match raw_client(addr, &pki, client).await {
            Err(_) => true,
            Ok(mut s) => round_trip(&mut s, &[b"x"], false).await.is_err(),
        };
        assert!(refused);
    }
    timeout(WAIT, async {
        while acceptor.stats().failed() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("both refusals counted");
    assert_eq!(acceptor.stats().ok(), 1);
    drop(s);
    server.shutdown(Duration::from_secs(1)).await;
}

/// What the runtime's client says when it refuses the certificate of a server that
/// presents `chain` with `key`, checking it for `name`.
async fn refusal(pki: &Pki, (chain, key): Pair, name: &str) -> String {
    let acceptor = TlsServerConfig::new(chain, key).unwrap().build().unwrap();
    let server = echo(acceptor).await;
    let connector = TlsClientConfig::with_roots(pki.roots())
        .server_name(name)
        .unwrap()
        .build()
        .unwrap();
    let mut client = Client::builder(LengthFieldCodec::new, |_: Conn<Bytes>, _: Bytes| async {})
        .node(server.local_addr())
        .tls(connector)
        .start();
    let ev = timeout(WAIT, client.next_event()).await.unwrap().unwrap();
    let ClientEvent::ConnectFailed { error, .. } = ev else {
        panic!("{ev:?}")
    };
    client.shutdown().await;
    server.shutdown(Duration::from_secs(1)).await;
    error
}

#[tokio::test]
async fn the_client_refuses_a_server_certificate_for_another_name() {
    let pki = Pki::new("test CA");
    let error = refusal(&pki, pki.leaf(&["localhost"]), "bank.example").await;
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test]
async fn the_client_refuses_an_expired_server_certificate_saying_so() {
    let pki = Pki::new("test CA");
    let error = refusal(&pki, pki.expired("localhost"), "localhost").await;
    assert!(error.to_lowercase().contains("expired"), "{error}");
}

#[tokio::test]
async fn a_peer_that_never_finishes_its_handshake_is_closed_at_the_deadline() {
    let pki = Pki::new("test CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let acceptor = TlsServerConfig::new(chain, key)
        .unwrap()
        .handshake_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let server = echo(acceptor.clone()).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    // half a ClientHello's record header, then nothing
    tcp.write_all(&[0x16, 0x03]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("closed by the server")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing but the close");
    let st = acceptor.stats().snapshot();
    assert_eq!(st.timed_out, 1);
    assert_eq!(st.failures, [("timeout".to_owned(), 1)]);
    assert_eq!(server.stats().current, 0, "never became a connection");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_reloaded_certificate_is_the_one_new_connections_get() {
    let pki = Pki::new("test CA");
    let first = pki.leaf(&["localhost"]);
    let second = pki.leaf(&["localhost"]);
    let acceptor = TlsServerConfig::new(first.0.clone(), first.1.clone_key())
        .unwrap()
        .build()
        .unwrap();
    let server = echo(acceptor.clone()).await;
    let presented = |s: &tokio_rustls::client::TlsStream<TcpStream>| {
        s.get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    let old = raw_client(server.local_addr(), &pki, None).await.unwrap();
    assert_eq!(presented(&old), first.0[0]);
    let (chain, key) = clone_pair(&second);
    acceptor
        .reload(TlsServerConfig::new(chain, key).unwrap())
        .unwrap();
    let mut new = raw_client(server.local_addr(), &pki, None).await.unwrap();
    assert_eq!(presented(&new), second.0[0]);
    assert_eq!(
        round_trip(&mut new, &[b"ok"], false).await.unwrap(),
        [&b"\0ok"[..]]
    );
    drop((old, new));
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn configuration_errors_name_the_file_or_the_reason() {
    let dir = std::env::temp_dir().join(format!("packwire-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::new("test CA");
    let (cert_pem, key_pem, _) = pki.leaf_pem(&["localhost"]);
    let (_, other_key_pem, _) = pki.leaf_pem(&["localhost"]);
    let cert_file = dir.join("server.pem");
    std::fs::write(&cert_file, cert_pem).unwrap();
    let key_file = dir.join("server.key");
    std::fs::write(&key_file, key_pem).unwrap();
    let other_key_file = dir.join("other.key");
    std::fs::write(&other_key_file, other_key_pem).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();

    assert!(TlsServerConfig::from_pem_files(&cert_file, &key_file).is_ok());
    let missing = dir.join("missing.pem");
    let e = TlsServerConfig::from_pem_files(&missing, &key_file).unwrap_err();
    assert!(
        matches!(&e, TlsError::Read { path, .. } if *path == missing),
        "{e}"
    );
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let e = TlsServerConfig::from_pem_files(&junk, &key_file).unwrap_err();
    assert!(
        matches!(&e, TlsError::Pem { path, .. } if *path == junk),
        "{e}"
    );
    let e = TlsServerConfig::from_pem_files(&cert_file, &junk).unwrap_err();
    assert!(
        matches!(&e, TlsError::Pem { path, .. } if *path == junk),
        "{e}"
    );
    let e = TlsServerConfig::from_pem_files(&cert_file, &other_key_file).unwrap_err();
    assert!(
        matches!(&e, TlsError::KeyMismatch { path } if *path == cert_file),
        "{e}"
    );
    let e = TlsClientConfig::webpki_roots()
        .server_name("not a name!")
        .unwrap_err();
    assert!(matches!(e, TlsError::ServerName(_)), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn sni_picks_the_certificate_alpn_the_protocol_and_the_peers_identity_is_readable() {
    let pki = Pki::new("test CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let (other_chain, other_key) = pki.leaf(&["api.example"]);
    let acceptor = TlsServerConfig::new(chain.clone(), key)
        .unwrap()
        .sni("api.example", other_chain.clone(), other_key)
        .unwrap()
        .alpn(vec![b"h2".to_vec(), b"packwire".to_vec()])
        .client_ca(pki.roots())
        .build()
        .unwrap();
    // the handler answers with what the handshake settled: the name asked for, the
    // protocol, the client's subject and names (what an auth gate would check)
    let server = Server::builder_sync(LineCodec::new, |c: &Conn<Bytes>, _: Bytes| {
        let t = c.tls().expect("over TLS");
        Some(Bytes::from(format!(
            "{} {} {} {}",
            t.server_name.as_deref().unwrap_or("-"),
            String::from_utf8_lossy(t.alpn.as_deref().unwrap_or(b"-")),
            t.peer_subject.as_deref().unwrap_or("-"),
            t.peer_names.join(",")
        )))
    })
    .tls(acceptor)
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let client_pair = || pki.leaf(&["alice.example", "192.0.2.7"]);
    let mut codec = LineCodec::new();
    for (name, expect_cert) in [("api.example", &other_chain[0]), ("localhost", &chain[0])] {
        let mut s = raw_connect(
            server.local_addr(),
            &pki,
            name,
            &[b"packwire"],
            Some(client_pair()),
        )
        .await
        .unwrap();
        assert_eq!(&s.get_ref().1.peer_certificates().unwrap()[0], expect_cert);
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"packwire"[..]));
        s.write_all(b"who\n").await.unwrap();
        let mut buf = BytesMut::new();
        let line = timeout(WAIT, async {
            loop {
                if let Some(l) = codec.decode(&mut buf).unwrap() {
                    return l;
                }
                assert!(s.read_buf(&mut buf).await.unwrap() > 0);
            }
        })
        .await
        .unwrap();
        let line = String::from_utf8(line.to_vec()).unwrap();
        assert_eq!(
            line,
            format!("{name} packwire CN=alice.example alice.example,192.0.2.7")
        );
    }
    server.shutdown(Duration::from_secs(1)).await;
}
