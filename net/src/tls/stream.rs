//! TLS streams as transports.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::transport::Transport;

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
