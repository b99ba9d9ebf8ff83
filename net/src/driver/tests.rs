use bytes::Bytes;
use packwire_codecs::LengthFieldCodec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Conn, Server, buffers};

/// Frames of `payload` bytes behind a 4-byte length.
fn frames(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// After every exchange, a connection that waits for its peer again holds no read
/// buffer, no write buffer and no queue storage (what the idle-memory figure rests
/// on), however the buffers moved between reading and writing on the way.
#[test]
fn a_quiet_connection_holds_no_buffer_after_each_exchange() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = Server::builder(
            LengthFieldCodec::new,
            |conn: Conn<Bytes>, f: Bytes| async move {
                let _ = conn.send(f).await;
            },
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
        let (mut client, theirs) = tokio::io::duplex(64 * 1024);
        server
            .adopt(theirs, "127.0.0.1:40000".parse().unwrap())
            .unwrap();
        let before = buffers::lent();
        // one frame (its answer goes out alone), then three in one write (a list)
        for batch in [&[&b"ping"[..]][..], &[b"a", b"bb", b"ccc"]] {
            let bytes = frames(batch);
            client.write_all(&bytes).await.unwrap();
            let mut back = vec![0; bytes.len()];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, bytes);
            // the server wrote the echo and looked for more input in one poll: it
            // is parked now, and gave everything back before parking
            assert_eq!(buffers::lent(), before, "after {batch:?}");
        }
        drop(client);
        server.shutdown(std::time::Duration::from_secs(1)).await;
    });
}

#[test]
fn a_type_name_loses_its_module_paths() {
    let short = |s: &'static str| super::ShortName(s).to_string();
    assert_eq!(short("a::b::Codec"), "Codec");
    assert_eq!(short("a::Traced<b::c::Codec, d::E>"), "Traced<Codec, E>");
    assert_eq!(short("Plain"), "Plain");
    assert_eq!(short("(a::B, [c::D; 2])"), "(B, [D; 2])");
}
