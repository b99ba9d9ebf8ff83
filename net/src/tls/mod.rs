//! TLS for every server and client, on the transport seam: a TLS stream is one more
//! [`Transport`](crate::Transport), so every codec and protocol runs over it unchanged. Built on rustls
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

mod client;
mod server;
mod stream;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::sign::CertifiedKey;
pub use tokio_rustls::{self, rustls};

pub use client::{TlsClientConfig, TlsConnector};
pub use server::{TlsAcceptor, TlsServerConfig, TlsStats, TlsStatsSnapshot};
pub(crate) use stream::ClientStream;

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

/// The CA certificates in a PEM file, as a root store.
///
/// # Errors
/// When the file cannot be read or holds no usable certificate.
pub(crate) fn roots_from_pem_file(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs_from_pem_file(path)? {
        roots.add(c).map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
    }
    Ok(roots)
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
