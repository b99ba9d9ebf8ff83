//! What a connection runs over: any `AsyncRead + AsyncWrite` byte stream. TCP is one
//! implementation; TLS and in-memory pipes plug in the same way without touching the
//! driver.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream a connection can run over.
///
/// Beyond reading and writing, a transport may say when it is readable without being
/// read ([`Transport::poll_read_ready`]): then an idle connection holds no read buffer
/// at all, and one is taken from a pool only when bytes are waiting. A transport that
/// cannot tell keeps the default, which reports "readable" at once (the driver then
/// reads into a buffer right away, as tokio's `Framed` does).
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Ready when a read would not block (bytes, end of stream or an error are waiting).
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// The peer's address, where the transport has one.
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The local address, where the transport has one.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl Transport for TcpStream {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        TcpStream::peer_addr(self).ok()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        TcpStream::local_addr(self).ok()
    }
}

impl Transport for tokio::io::DuplexStream {}

/// A boxed transport is a transport: [`ServerHandle::adopt`](crate::ServerHandle::adopt)
/// takes any transport this way.
impl<T: Transport + ?Sized> Transport for Box<T> {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_read_ready(cx)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        (**self).peer_addr()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        (**self).local_addr()
    }
}

/// Polls a transport's write side (a helper so the driver names one trait).
pub(crate) fn poll_write<T: Transport>(
    io: &mut T,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    Pin::new(io).poll_write(cx, buf)
}

/// Polls a transport's write shutdown (FIN for TCP).
pub(crate) fn poll_shutdown<T: Transport>(
    io: &mut T,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    Pin::new(io).poll_shutdown(cx)
}
