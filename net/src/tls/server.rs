//! The server side: certificates (SNI), client verification, the acceptor and its
//! statistics.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

use super::{
    TlsError, TlsInfo, certified, certs_from_pem_file, info_of, key_from_pem_file, provider,
    roots_from_pem_file,
};

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
        let roots = roots_from_pem_file(path.as_ref())?;
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
