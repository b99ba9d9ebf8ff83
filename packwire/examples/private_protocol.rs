//! A private protocol on the runtime: the README's message codec (a nom parser, zero-copy,
//! behind a 2-byte length and a CRC-16), served and spoken over TCP. The server answers
//! each message with the same body and the next id.
//!
//! `cargo run -p packwire --example private_protocol`

use std::time::Duration;

use packwire::bytes::{BufMut, Bytes, BytesMut};
use packwire::codecs::LengthFieldCodec;
use packwire::core::{Checksum, ChecksumLayer, EncodeError, FrameError, NomMessage, Protocol};
use packwire::net::{Client, ClientEvent, Conn, Server};
use packwire::nom::{
    IResult, Parser,
    combinator::rest,
    number::complete::{be_u16, u8},
};
use packwire::tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, Clone, PartialEq)]
struct Msg {
    kind: u8,
    id: u16,
    body: Bytes,
}

fn parse(frame: &Bytes) -> IResult<&[u8], Msg> {
    let (i, (kind, id, body)) = (u8, be_u16, rest).parse(&frame[..])?;
    Ok((
        i,
        Msg {
            kind,
            id,
            body: frame.slice_ref(body),
        },
    ))
}

fn write(m: Msg, dst: &mut BytesMut) -> Result<(), EncodeError> {
    dst.put_u8(m.kind);
    dst.put_u16(m.id);
    dst.put_slice(&m.body);
    Ok(())
}

fn codec() -> impl Decoder<Item = Msg, Error = FrameError> + Encoder<Msg, Error = EncodeError> + Send
{
    let framing = LengthFieldCodec::builder()
        .width(2)
        .strip_header()
        .max_frame(1024)
        .build()
        .expect("a valid layout");
    Protocol::new(framing, NomMessage::zero_copy(parse, write))
        .layer(ChecksumLayer::new(Checksum::Crc16Ccitt))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::builder(codec, |conn: Conn<Msg>, m: Msg| async move {
        let _ = conn
            .send(Msg {
                kind: m.kind,
                id: m.id.wrapping_add(1),
                body: m.body,
            })
            .await;
    })
    .bind("127.0.0.1:0")
    .await?;

    let (tx, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let mut client = Client::builder(codec, move |_: Conn<Msg>, m: Msg| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(m);
        }
    })
    .node(server.local_addr())
    .start();
    if !matches!(
        client.next_event().await,
        Some(ClientEvent::Connected { .. })
    ) {
        return Err(std::io::Error::other("could not connect"));
    }
    for id in 0..3 {
        let m = Msg {
            kind: 1,
            id,
            body: Bytes::from(format!("message {id}")),
        };
        client.send(m).map_err(std::io::Error::other)?;
    }
    for _ in 0..3 {
        let reply = tokio::time::timeout(Duration::from_secs(5), replies.recv())
            .await
            .map_err(|_| std::io::Error::other("no reply in time"))?;
        println!("reply: {reply:?}");
    }

    client.shutdown().await;
    println!("{}", server.shutdown(Duration::from_secs(1)).await);
    Ok(())
}
