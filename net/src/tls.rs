//! TLS for every server and client, on the transport seam: a TLS stream is one more
//! [`Transport`], so every codec and protocol runs over it unchanged. Built on rustls
//! (through tokio-rustls) with the `ring` provider, which builds with the Rust toolchain
//! and a C compiler only (`aws-lc-rs` also needs cmake, which the CI machine lacks).
//!
//! ```no_run
//! use bytes::Bytes;
//! use packwire_codecs::LengthFieldCodec;
//! use packwire_net::tls::TlsServerConfig;
//! use packwire_net::{Conn, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsServerConfig::from_pem_files("server.pem", "server.key")?.build()?;
//! let server = Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, f: Bytes| Some(f))
//!     .tls(tls)
//!     .bind("127.0.0.1:0")
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
pub use tokio_rustls::{self, rustls};

use crate::transport::Transport;

/// Why a TLS configuration could not be built, naming the file or the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file is not PEM, or holds nothing of what was asked for.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The private key is not the certificate's.
    #[error("the private key does not match the certificate {}", path.display())]
    KeyMismatch {
        /// The certificate file (or `<given>` for certificates passed as values).
        path: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (an empty CA file, ...).
    #[error("client CA: {0}")]
    ClientCa(String),
    /// Not a DNS name or an IP address.
    #[error("{0:?} is not a valid server name")]
    ServerName(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate in a PEM file.
///
/// # Errors
/// When the file cannot be read, is not PEM, or holds no certificate.
pub fn certs_from_pem_file(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            what: "no certificate in it".to_owned(),
        });
    }
    Ok(certs)
}

/// Reads the private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
///
/// # Errors
/// When the file cannot be read or holds no private key.
pub fn key_from_pem_file(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        what: format!("no private key in it ({e})"),
    })
}

/// A certificate chain and its key, checked to belong together.
fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    path: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signing = provider().key_provider.load_private_key(key)?;
    let ck = CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Ok(()) => Ok(Arc::new(ck)),
        Err(_) => Err(TlsError::KeyMismatch {
            path: path.to_owned(),
        }),
    }
}

/// The certificate for each name a client asks for (SNI), a default for the rest.
#[derive(Debug)]
struct Certificates {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello
            .server_name()
            .and_then(|n| self.by_name.get(&n.to_ascii_lowercase()));
        Some(named.unwrap_or(&self.default).clone())
    }
}

/// How a TLS server is set up; [`TlsServerConfig::build`] makes the [`TlsAcceptor`] a
/// server takes.
#[derive(Debug)]
pub struct TlsServerConfig {
    certs: Certificates,
    client_ca: Option<RootCertStore>,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Duration,
}

impl TlsServerConfig {
    /// A server presenting `chain` (its own certificate first) with `key`.
    ///
    /// # Errors
    /// When the key cannot be used or is not the certificate's.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let default = certified(chain, key, Path::new("<given>"))?;
        Ok(Self::presenting(default))
    }

    /// A server presenting `default` to every client, with the default options.
    fn presenting(default: Arc<CertifiedKey>) -> Self {
        TlsServerConfig {
            certs: Certificates {
                default,
                by_name: HashMap::new(),
            },
            client_ca: None,
            alpn: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// A server presenting the chain in the PEM file `cert` with the key in `key`.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file that could not be read or used.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let cert = cert.as_ref();
        let chain = certs_from_pem_file(cert)?;
        let key = key_from_pem_file(key)?;
        let default = certified(chain, key, cert)?;
        Ok(Self::presenting(default))
    }

    /// Presents `chain` with `key` to clients that ask for `name` (SNI); the first
    /// certificate goes to the others.
    ///
    /// # Errors
    /// When the key cannot be used or is not the certificate's.
    pub fn sni(
        mut self,
        name: &str,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let ck = certified(chain, key, Path::new(name))?;
        self.certs.by_name.insert(name.to_ascii_lowercase(), ck);
        Ok(self)
    }

    /// Requires a client certificate issued by one of `roots` (mutual TLS).
    pub fn client_ca(mut self, roots: RootCertStore) -> Self {
        self.client_ca = Some(roots);
        self
    }

    /// Requires a client certificate issued by a CA in the PEM file `path`.
    ///
    /// # Errors
    /// When the file cannot be read or holds no usable certificate.
    pub fn client_ca_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for c in certs_from_pem_file(path.as_ref())? {
            roots.add(c).map_err(|e| TlsError::Pem {
                path: path.as_ref().to_owned(),
                what: e.to_string(),
            })?;
        }
        Ok(self.client_ca(roots))
    }

    /// The application protocols offered (ALPN), most preferred first.
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// A peer must finish its handshake within this (default 10 s), or it is closed and
    /// counted ([`TlsStats::timed_out`]).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    fn rustls(self) -> Result<(ServerConfig, Duration), TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match self.client_ca {
            Some(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?,
            ),
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder.with_cert_resolver(Arc::new(self.certs));
        cfg.alpn_protocols = self.alpn;
        Ok((cfg, self.handshake_timeout))
    }

    /// The acceptor a server takes ([`crate::ServerBuilder::tls`]).
    ///
    /// # Errors
    /// When rustls refuses the configuration or the client CA.
    pub fn build(self) -> Result<TlsAcceptor, TlsError> {
        let (cfg, timeout) = self.rustls()?;
        Ok(TlsAcceptor {
            inner: Arc::new(Acceptor {
                config: RwLock::new(Arc::new(cfg)),
                timeout: RwLock::new(timeout),
                stats: TlsStats::default(),
            }),
        })
    }
}

#[derive(Debug)]
struct Acceptor {
    config: RwLock<Arc<ServerConfig>>,
    timeout: RwLock<Duration>,
    stats: TlsStats,
}

/// What a server's TLS side counted.
#[derive(Debug, Default)]
pub struct TlsStats {
    ok: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    /// failures by reason, versions and cipher suites in use, by name
    by_name: Mutex<HashMap<String, u64>>,
}

/// A copy of [`TlsStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsStatsSnapshot {
    /// Handshakes that completed.
    pub ok: u64,
    /// Handshakes that failed.
    pub failed: u64,
    /// Peers that did not finish their handshake in time.
    pub timed_out: u64,
    /// Failures by reason (rustls's error, or `timeout`).
    pub failures: Vec<(String, u64)>,
    /// Completed handshakes by protocol version (`TLSv1_3`, ...).
    pub versions: Vec<(String, u64)>,
    /// Completed handshakes by cipher suite.
    pub suites: Vec<(String, u64)>,
}

impl TlsStats {
    fn count(&self, key: String) {
        *self
            .by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default() += 1;
    }

    /// Handshakes that completed.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Handshakes that failed (timeouts not included).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Peers closed for not finishing their handshake in time.
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Everything, at once.
    pub fn snapshot(&self) -> TlsStatsSnapshot {
        let m = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        let pick = |prefix: &str| {
            let mut v: Vec<(String, u64)> = m
                .iter()
                .filter_map(|(k, n)| Some((k.strip_prefix(prefix)?.to_owned(), *n)))
                .collect();
            v.sort();
            v
        };
        TlsStatsSnapshot {
            ok: self.ok(),
            failed: self.failed(),
            timed_out: self.timed_out(),
            failures: pick("failure:"),
            versions: pick("version:"),
            suites: pick("suite:"),
        }
    }
}

/// What a TLS connection settled, readable from its [`Conn`](crate::Conn) with
/// [`Conn::tls`](crate::Conn::tls).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version (`TLSv1_3`, ...).
    pub version: Option<String>,
    /// The cipher suite.
    pub suite: Option<String>,
    /// The application protocol agreed (ALPN).
    pub alpn: Option<Vec<u8>>,
    /// The name the client asked for (SNI), on a server.
    pub server_name: Option<String>,
    /// The peer's certificate chain (its own first), when it presented one: a client's
    /// with mutual TLS, the server's on a client.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// The subject of the peer's certificate (`CN=alice, O=Example`), when it presented
    /// one.
    pub peer_subject: Option<String>,
    /// The peer certificate's subject alternative names: DNS names, IP addresses,
    /// e-mail addresses and URIs, as text.
    pub peer_names: Vec<String>,
}

/// The subject and the alternative names of a DER certificate (`None` if it does not
/// parse; rustls has verified it by then).
fn identity(der: &[u8]) -> Option<(String, Vec<String>)> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject().to_string();
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::RFC822Name(e) => Some((*e).to_owned()),
                    GeneralName::URI(u) => Some((*u).to_owned()),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                        16 => <[u8; 16]>::try_from(*ip)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some((subject, names))
}

fn info_of(c: &rustls::CommonState, server_name: Option<&str>) -> TlsInfo {
    let peer_certificates: Vec<CertificateDer<'static>> = c
        .peer_certificates()
        .map(|cs| cs.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let (peer_subject, peer_names) = match peer_certificates.first().and_then(|c| identity(c)) {
        Some((s, n)) => (Some(s), n),
        None => (None, Vec::new()),
    };
    TlsInfo {
        version: c.protocol_version().map(|v| format!("{v:?}")),
        suite: c
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite())),
        alpn: c.alpn_protocol().map(<[u8]>::to_vec),
        server_name: server_name.map(str::to_owned),
        peer_certificates,
        peer_subject,
        peer_names,
    }
}

/// A server's TLS side: the configuration new connections get (replaced in place by
/// [`TlsAcceptor::reload`]), the handshake deadline, and the statistics. Clones share
/// all three.
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    inner: Arc<Acceptor>,
}

impl TlsAcceptor {
    /// Takes a new configuration (a renewed certificate): connections accepted from now
    /// on use it; open ones keep theirs.
    ///
    /// # Errors
    /// When rustls refuses it; the old one stays in use.
    pub fn reload(&self, cfg: TlsServerConfig) -> Result<(), TlsError> {
        let (cfg, timeout) = cfg.rustls()?;
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(cfg);
        *self
            .inner
            .timeout
            .write()
            .unwrap_or_else(PoisonError::into_inner) = timeout;
        Ok(())
    }

    /// What it counted.
    pub fn stats(&self) -> &TlsStats {
        &self.inner.stats
    }

    /// The rustls configuration new connections get (to drive rustls yourself, as a
    /// hand-written tokio-rustls server does).
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        self.inner
            .config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs a server-side handshake on `tcp` within the deadline.
    pub(crate) async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, TlsInfo)> {
        let acceptor = tokio_rustls::TlsAcceptor::from(
            self.inner
                .config
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        );
        let timeout = *self
            .inner
            .timeout
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let stats = &self.inner.stats;
        match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => {
                let c = s.get_ref().1;
                let info = info_of(c, c.server_name());
                stats.ok.fetch_add(1, Ordering::Relaxed);
                if let Some(v) = &info.version {
                    stats.count(format!("version:{v}"));
                }
                if let Some(v) = &info.suite {
                    stats.count(format!("suite:{v}"));
                }
                Some((s, info))
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                stats.failed.fetch_add(1, Ordering::Relaxed);
                stats.count(format!("failure:{e}"));
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake not finished in time");
                stats.timed_out.fetch_add(1, Ordering::Relaxed);
                stats.count("failure:timeout".to_owned());
                None
            }
        }
    }
}

/// How a TLS client is set up: whom it trusts, the name it checks, its own certificate.
#[derive(Debug, Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    name: Option<ServerName<'static>>,
}

/// Builds a [`TlsConnector`].
#[derive(Debug)]
pub struct TlsClientConfig {
    roots: RootCertStore,
    name: Option<ServerName<'static>>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: Vec<Vec<u8>>,
}

impl TlsClientConfig {
    /// Trusts the Mozilla root CAs (`webpki-roots`: the same on every machine and in
    /// every container, which the platform's store is not).
    pub fn webpki_roots() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(roots)
    }

    /// Trusts only `roots`.
    pub fn with_roots(roots: RootCertStore) -> Self {
        TlsClientConfig {
            roots,
            name: None,
            client: None,
            alpn: Vec::new(),
        }
    }

    /// Trusts only the CAs in the PEM file `path`.
    ///
    /// # Errors
    /// When the file cannot be read or holds no usable certificate.
    pub fn with_ca_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for c in certs_from_pem_file(path.as_ref())? {
            roots.add(c).map_err(|e| TlsError::Pem {
                path: path.as_ref().to_owned(),
                what: e.to_string(),
            })?;
        }
        Ok(Self::with_roots(roots))
    }

    /// Checks the server's certificate for `name` (default: the address connected to).
    ///
    /// # Errors
    /// When `name` is neither a DNS name nor an IP address.
    pub fn server_name(mut self, name: &str) -> Result<Self, TlsError> {
        self.name = Some(
            ServerName::try_from(name.to_owned())
                .map_err(|_| TlsError::ServerName(name.to_owned()))?,
        );
        Ok(self)
    }

    /// Presents this certificate chain and key when the server asks (mutual TLS).
    pub fn client_cert(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.client = Some((chain, key));
        self
    }

    /// Presents the chain in the PEM file `cert` with the key in `key`.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file that could not be read.
    pub fn client_cert_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let chain = certs_from_pem_file(cert)?;
        let key = key_from_pem_file(key)?;
        Ok(self.client_cert(chain, key))
    }

    /// The application protocols offered (ALPN).
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// The connector a client takes ([`crate::ClientBuilder::tls`]).
    ///
    /// # Errors
    /// When rustls refuses the configuration (a client key it cannot use).
    pub fn build(self) -> Result<TlsConnector, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots);
        let mut cfg = match self.client {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = self.alpn;
        Ok(TlsConnector {
            config: Arc::new(cfg),
            name: self.name,
        })
    }
}

impl TlsConnector {
    /// Runs a client-side handshake on `tcp`, connected to `addr` (the name checked when
    /// none was set), and returns the TLS stream and what it settled.
    ///
    /// # Errors
    /// When the handshake fails (a refused certificate, ...).
    pub async fn connect(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
    ) -> io::Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsInfo)> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
        let s = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await?;
        let info = info_of(s.get_ref().1, None);
        Ok((s, info))
    }
}

/// Ready when rustls holds plaintext already decrypted, or the socket has bytes: an idle
/// TLS connection then holds no read buffer, as a TCP one does not.
fn poll_ready<C>(
    tcp: &TcpStream,
    conn: &mut rustls::ConnectionCommon<C>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match conn.process_new_packets() {
        Ok(s) if s.plaintext_bytes_to_read() == 0 && !s.peer_has_closed() => {
            tcp.poll_read_ready(cx)
        }
        // plaintext waits, the peer closed, or an error for the read to report
        _ => Poll::Ready(Ok(())),
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (tcp, conn) = self.get_mut();
        poll_ready(tcp, conn, cx)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.get_ref().0.peer_addr().ok()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.get_ref().0.local_addr().ok()
    }
}

/// A client's stream: plain TCP or TLS over it.
#[derive(Debug)]
pub(crate) enum ClientStream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientStream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.is_write_vectored(),
            ClientStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Transport for ClientStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            ClientStream::Tcp(s) => s.poll_read_ready(cx),
            ClientStream::Tls(s) => {
                let (tcp, conn) = s.get_mut();
                poll_ready(tcp, conn, cx)
            }
        }
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            ClientStream::Tcp(s) => s.peer_addr().ok(),
            ClientStream::Tls(s) => s.get_ref().0.peer_addr().ok(),
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            ClientStream::Tcp(s) => s.local_addr().ok(),
            ClientStream::Tls(s) => s.get_ref().0.local_addr().ok(),
        }
    }
}
