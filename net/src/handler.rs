//! What the runtime calls for each decoded message, and what that call may return.

use std::future::{Future, Ready};

use crate::Conn;

/// What a server or client calls for each decoded message `I` of a connection whose
/// codec encodes `M`; one connection's messages are handled in order, one at a time.
///
/// A closure is a handler in one of two forms:
///
/// | form | signature | built with |
/// |---|---|---|
/// | async | `Fn(Conn<M>, I) -> impl Future<Output: Reply<M>>` | [`Server::builder`](crate::Server::builder), [`Client::builder`](crate::Client::builder) |
/// | plain | `Fn(&Conn<M>, I) -> impl Reply<M>` | [`Server::builder_sync`](crate::Server::builder_sync), [`Client::builder_sync`](crate::Client::builder_sync) |
///
/// A plain handler runs to its end on the connection's task, as Netty's `channelRead`
/// and t-io's `handler` do: no future, and no clone of the connection handle per
/// message (an atomic increment and decrement each), the cheapest form for a handler
/// that answers, routes or sends without waiting. It must not block; one that needs to
/// wait (for room in a queue, a call's response) is an async handler.
///
/// A type of your own may implement it directly, for a handler that carries state:
///
/// ```no_run
/// use std::future::Ready;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use bytes::Bytes;
/// use packwire_codecs::LengthFieldCodec;
/// use packwire_net::{Conn, Handled, Handler, Server};
///
/// /// Answers each frame with how many frames all connections have sent so far.
/// #[derive(Default)]
/// struct Counter(AtomicU64);
///
/// impl Handler<Bytes, Bytes> for Counter {
///     type Reply = Option<Bytes>;
///     type Future = Ready<Option<Bytes>>;
///     fn call(&self, _conn: &Conn<Bytes>, _frame: Bytes) -> Handled<Self::Reply, Self::Future> {
///         let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
///         Handled::Done(Some(Bytes::from(n.to_string())))
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::builder_with(LengthFieldCodec::new, Counter::default())
///     .bind("127.0.0.1:0")
///     .await?;
/// # Ok(()) }
/// ```
pub trait Handler<M, I>: Send + Sync + 'static {
    /// What a finished call returns: `()` or the answer (`Option<M>`).
    type Reply: Reply<M>;
    /// The future of a call that has more to do ([`Ready`] for a handler that never
    /// returns one).
    type Future: Future<Output = Self::Reply> + Send;

    /// Handles one message: finished ([`Handled::Done`]) or a future the connection's
    /// task runs to its end before it decodes the next message ([`Handled::Later`]).
    fn call(&self, conn: &Conn<M>, item: I) -> Handled<Self::Reply, Self::Future>;
}

/// What [`Handler::call`] did.
#[derive(Debug)]
pub enum Handled<R, F> {
    /// finished, with what it returns
    Done(R),
    /// to be finished by running the future
    Later(F),
}

/// An async handler: a closure `Fn(Conn<M>, I) -> impl Future<Output: Reply<M>>`, each
/// call given its own handle to the connection ([`Server::builder`](crate::Server::builder)
/// makes one).
#[derive(Debug, Clone)]
pub struct AsyncHandler<H>(pub H);

impl<M, I, H, Fut> Handler<M, I> for AsyncHandler<H>
where
    H: Fn(Conn<M>, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output: Reply<M>> + Send,
    M: Send + 'static,
{
    type Reply = Fut::Output;
    type Future = Fut;
    #[inline]
    fn call(&self, conn: &Conn<M>, item: I) -> Handled<Self::Reply, Fut> {
        Handled::Later((self.0)(conn.clone(), item))
    }
}

/// A plain handler: a closure `Fn(&Conn<M>, I) -> impl Reply<M>` that finishes on the
/// connection's task ([`Server::builder_sync`](crate::Server::builder_sync) makes one).
#[derive(Debug, Clone)]
pub struct SyncHandler<H>(pub H);

impl<M, I, H, R> Handler<M, I> for SyncHandler<H>
where
    H: Fn(&Conn<M>, I) -> R + Send + Sync + 'static,
    R: Reply<M>,
    M: Send + 'static,
{
    type Reply = R;
    type Future = Ready<R>;
    #[inline]
    fn call(&self, conn: &Conn<M>, item: I) -> Handled<R, Ready<R>> {
        Handled::Done((self.0)(conn, item))
    }
}

/// What a handler returns: nothing (`()`), as a handler that sends through
/// [`Conn::send`](crate::Conn::send) does, or the message to write back (`Option<M>`).
///
/// A returned message is encoded by the connection's own task straight into its write
/// buffer: no trip through the connection's queue and its lock, the cheapest way to
/// answer (tower's and hyper's handlers return their response the same way). It is
/// written after whatever the handler sent through [`Conn::send`](crate::Conn::send)
/// before returning, and while the peer reads too slowly the connection reads nothing
/// more until the answers are written (back-pressure; the write timeout applies).
///
/// ```no_run
/// use bytes::Bytes;
/// use packwire_codecs::LengthFieldCodec;
/// use packwire_net::{Conn, Server};
///
/// # async fn run() -> std::io::Result<()> {
/// // the echo, answering each frame with itself
/// let server = Server::builder(LengthFieldCodec::new, |_conn: Conn<Bytes>, frame: Bytes| async move {
///     Some(frame)
/// })
/// .bind("127.0.0.1:0")
/// .await?;
/// # Ok(()) }
/// ```
pub trait Reply<M>: Send {
    /// The message to write back, if any.
    fn into_reply(self) -> Option<M>;
}

impl<M> Reply<M> for () {
    #[inline]
    fn into_reply(self) -> Option<M> {
        None
    }
}

impl<M: Send> Reply<M> for Option<M> {
    #[inline]
    fn into_reply(self) -> Option<M> {
        self
    }
}
