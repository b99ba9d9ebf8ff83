//! The close: what is still queued written, the write side shut, the peer's input
//! drained until its EOF, all within the linger deadline.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Driver, now};
use crate::Codec;
use crate::buffers;
use crate::transport::{self, Transport};

impl<T, C, M> Driver<T, C, M>
where
    T: Transport,
    C: Codec<M>,
    M: Send + 'static,
{
    /// The close: writes what is still queued, shuts the write side (FIN), then reads
    /// and discards the peer's input until its EOF, so the kernel does not answer unread
    /// bytes with a reset that discards what was written — all within the linger
    /// deadline.
    pub(super) async fn finish(&mut self) {
        self.state.start_close(now());
        self.arm();
        let aborted = poll_fn(|cx| {
            loop {
                match self.poll_write_buf(cx) {
                    Poll::Ready(Ok(())) => {
                        if self.fill() > 0 {
                            continue;
                        }
                        return Poll::Ready(false);
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(true),
                    Poll::Pending => break,
                }
            }
            self.poll_abort(cx)
        })
        .await;
        if aborted {
            return;
        }
        let shut = poll_fn(|cx| match transport::poll_shutdown(&mut self.io, cx) {
            Poll::Ready(r) => Poll::Ready(r.is_ok()),
            Poll::Pending => self.poll_abort(cx).map(|_| false),
        })
        .await;
        if !shut {
            return;
        }
        poll_fn(|cx| {
            loop {
                if self.rbuf.capacity() == 0 {
                    self.rbuf = buffers::take();
                }
                self.rbuf.clear();
                match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Pending => return self.poll_abort(cx).map(|_| ()),
                }
            }
        })
        .await;
        self.rbuf.clear();
        self.release_read();
    }

    /// Ready (true) once the linger deadline has passed.
    pub(super) fn poll_abort(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match &mut self.timer {
            Some(t) if self.armed.is_some() => t.as_mut().poll(cx).map(|()| true),
            _ => Poll::Pending,
        }
    }
}
