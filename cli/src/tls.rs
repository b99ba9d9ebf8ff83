//! The TLS options of the commands, and `packwire cert new`.

use std::io;
use std::path::{Path, PathBuf};

use packwire_net::tls::{TlsAcceptor, TlsClientConfig, TlsConnector, TlsServerConfig};

/// A server's TLS options.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServeTls {
    /// Serve TLS with the certificate chain in this PEM file (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by a CA in this PEM file (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
}

impl ServeTls {
    /// The acceptor, when TLS was asked for.
    pub(crate) fn acceptor(&self) -> io::Result<Option<TlsAcceptor>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut cfg = TlsServerConfig::from_pem_files(cert, key).map_err(io::Error::other)?;
        if let Some(ca) = &self.tls_client_ca {
            cfg = cfg.client_ca_file(ca).map_err(io::Error::other)?;
        }
        cfg.build().map(Some).map_err(io::Error::other)
    }
}

/// A client's TLS options.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ConnectTls {
    /// Connect over TLS (trusting the Mozilla roots unless --tls-ca is given).
    #[arg(long)]
    tls: bool,
    /// Trust only the CAs in this PEM file.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Check the server's certificate for this name (default: the address connected to).
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_name: Option<String>,
    /// Present the client certificate in this PEM file (with --tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl ConnectTls {
    /// The connector, when TLS was asked for.
    pub(crate) fn connector(&self) -> io::Result<Option<TlsConnector>> {
        if !self.tls {
            return Ok(None);
        }
        let mut cfg = match &self.tls_ca {
            Some(ca) => TlsClientConfig::with_ca_file(ca).map_err(io::Error::other)?,
            None => TlsClientConfig::webpki_roots(),
        };
        if let Some(name) = &self.tls_name {
            cfg = cfg.server_name(name).map_err(io::Error::other)?;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            cfg = cfg.client_cert_files(cert, key).map_err(io::Error::other)?;
        }
        cfg.build().map(Some).map_err(io::Error::other)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> io::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// `packwire cert new`: a self-signed CA, a server certificate for `name` (and the
/// loopback addresses) and a client certificate, all signed by the CA, as PEM files in
/// `out`; for trying TLS out, not for production.
pub(crate) fn new_certs(out: &Path, name: &str) -> io::Result<()> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    let bad = |e: rcgen::Error| io::Error::other(format!("making the certificates: {e}"));
    std::fs::create_dir_all(out)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", out.display())))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "packwire test CA");
    let ca_key = KeyPair::generate().map_err(bad)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(ca, ca_key).map_err(bad)?;
    let leaf = |names: Vec<String>, cn: &str, usage| -> Result<(String, String), rcgen::Error> {
        let mut p = CertificateParams::new(names)?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (server, server_key) = leaf(
        vec![name.to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()],
        name,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
    .map_err(bad)?;
    let (client, client_key) = leaf(
        vec!["client.packwire.test".to_owned()],
        "packwire test client",
        ExtendedKeyUsagePurpose::ClientAuth,
    )
    .map_err(bad)?;
    for (file, text) in [
        ("ca.pem", issuer.pem()),
        ("ca.key", ca_key_pem),
        ("server.pem", server),
        ("server.key", server_key),
        ("client.pem", client),
        ("client.key", client_key),
    ] {
        let path = write(out, file, &text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
