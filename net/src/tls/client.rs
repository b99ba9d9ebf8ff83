//! The client side: whom it trusts, the name it checks, its own certificate.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::{
    TlsError, TlsInfo, certs_from_pem_file, info_of, key_from_pem_file, provider,
    roots_from_pem_file,
};

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
        let roots = roots_from_pem_file(path.as_ref())?;
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
