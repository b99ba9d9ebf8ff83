//! What a handler's future may return.

/// What a handler's future returns: nothing (`()`), as a handler that sends through
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
