//! `packwire demo`: half packets and sticky packets over a real loopback socket.
//!
//! Until the packwire-net runtime lands, the demo drives the codec by hand over
//! `std::net`: a client writes frames cut at awkward places (half a header, three frames in
//! one write, a frame split across writes), the server decodes whatever each read returns,
//! and a second connection that claims a 1 GiB frame is refused without buffering it.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use packwire_core::FrameError;
use tokio_util::codec::{Decoder, Encoder};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one connection to its end, decoding every read; returns the frames.
fn serve_one(mut sock: TcpStream, name: &str) -> io::Result<Result<Vec<Bytes>, FrameError>> {
    sock.set_read_timeout(Some(TIMEOUT))?;
    let mut codec = LengthFieldCodec::builder()
        .strip_header()
        .max_frame(64 * 1024)
        .build()
        .map_err(io::Error::other)?;
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut reads = 0;
    loop {
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            let tail = codec.decode_eof(&mut buf);
            println!(
                "  [{name}] peer closed; leftover check: {}",
                match &tail {
                    Ok(_) => "clean".to_string(),
                    Err(e) => e.to_string(),
                }
            );
            return Ok(tail.map(|_| frames));
        }
        reads += 1;
        buf.extend_from_slice(&chunk[..n]);
        let mut got = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => got.push(f),
                Ok(None) => break,
                Err(e) => {
                    println!(
                        "  [{name}] read #{reads}: {n} bytes -> error: {e}; closing this connection"
                    );
                    println!(
                        "  [{name}] buffer capacity stayed at {} bytes",
                        buf.capacity()
                    );
                    return Ok(Err(e));
                }
            }
        }
        let shown: Vec<String> = got.iter().map(|f| preview(f)).collect();
        println!(
            "  [{name}] read #{reads}: {n:>4} bytes -> {} frame(s) {:?}, {} byte(s) waiting for the rest",
            got.len(),
            shown,
            buf.len()
        );
        frames.extend(got);
    }
}

fn preview(f: &[u8]) -> String {
    if f.len() <= 24 {
        String::from_utf8_lossy(f).into_owned()
    } else {
        format!(
            "{}... ({} bytes)",
            String::from_utf8_lossy(&f[..16]),
            f.len()
        )
    }
}

/// Writes `wire` in the given pieces, pausing so that each piece is its own read.
fn write_in_pieces(sock: &mut TcpStream, wire: &[u8], cuts: &[usize]) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        sock.write_all(&wire[start..end])?;
        sock.flush()?;
        start = end;
        thread::sleep(Duration::from_millis(60));
    }
    Ok(())
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "packwire demo: a 4-byte length header in front of every frame (t-io's hello world framing)"
    );
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("server listening on {addr}\n");
    let server = thread::spawn(move || -> io::Result<Vec<Bytes>> {
        let (a, _) = listener.accept()?;
        let first = serve_one(a, "conn 1")?.map_err(io::Error::other)?;
        let (b, _) = listener.accept()?;
        match serve_one(b, "conn 2")? {
            Err(e) => println!(
                "  [conn 2] closed with a typed error ({}); conn 1's frames are untouched",
                e.kind()
            ),
            Ok(_) => return Err(io::Error::other("the 1 GiB claim was accepted")),
        }
        Ok(first)
    });

    let messages: Vec<Bytes> = vec![
        Bytes::from_static(b"hello"),
        Bytes::from_static(b"half packets"),
        Bytes::from_static(b"and sticky packets"),
        Bytes::from(vec![b'x'; 3000]),
        Bytes::from_static(b"all decode the same"),
    ];
    let mut codec = LengthFieldCodec::new();
    let mut wire = BytesMut::new();
    for m in &messages {
        codec
            .encode(m.clone(), &mut wire)
            .map_err(io::Error::other)?;
    }
    // cut: half a header | the rest of frame 1, frames 2 and 3, half of frame 4 | ...
    let f3_end = 4 + 5 + 4 + 12 + 4 + 18;
    let cuts = [2, f3_end + 1500, f3_end + 3004 + 6];
    println!(
        "client 1 sends {} frames ({} bytes) in {} writes cut at {:?}",
        messages.len(),
        wire.len(),
        cuts.len() + 1,
        cuts
    );
    let mut c1 = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    write_in_pieces(&mut c1, &wire, &cuts)?;
    drop(c1);

    thread::sleep(Duration::from_millis(100));
    println!("\nclient 2 sends a header claiming a 1 GiB frame");
    let mut c2 = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    write_in_pieces(&mut c2, &[0x40, 0, 0, 0, b'?', b'?'], &[])?;

    let frames = server
        .join()
        .map_err(|_| io::Error::other("server thread panicked"))??;
    drop(c2);
    println!();
    if frames == messages {
        println!(
            "server decoded all {} frames exactly as sent, whatever the reads were",
            frames.len()
        );
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "server decoded {} frames, expected {}",
            frames.len(),
            messages.len()
        )))
    }
}

/// Part two: the packwire-net runtime — an echo server, a client with a heartbeat, the
/// server stopped and started again while the client reconnects, the statistics tree.
pub(crate) fn run_runtime() -> io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(runtime_demo())
}

/// The client's next event, waiting at most 5 s.
async fn next(
    c: &mut packwire_net::ClientHandle<Bytes>,
) -> io::Result<Option<packwire_net::ClientEvent>> {
    tokio::time::timeout(Duration::from_secs(5), c.next_event())
        .await
        .map_err(|_| io::Error::other("no client event in time"))
}

async fn runtime_demo() -> io::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use packwire_net::{Backoff, Client, ClientEvent, Conn, Server};

    let pings = Arc::new(AtomicUsize::new(0));
    let make_server = |addr: String, pings: Arc<AtomicUsize>| async move {
        Server::builder(
            LengthFieldCodec::new,
            move |conn: Conn<Bytes>, frame: Bytes| {
                let pings = pings.clone();
                async move {
                    if &frame[..] == b"ping" {
                        pings.fetch_add(1, Ordering::SeqCst);
                        println!("  [server] heartbeat from {}", conn.id());
                    } else {
                        let _ = conn.send(frame).await;
                    }
                }
            },
        )
        .idle_timeout(Duration::from_secs(5))
        .bind(addr)
        .await
    };
    let server = make_server("127.0.0.1:0".into(), pings.clone()).await?;
    let addr = server.local_addr();
    println!("server listening on {addr} (echo, idle timeout 5 s)");
    let mut client = Client::builder(
        LengthFieldCodec::new,
        |_: Conn<Bytes>, frame: Bytes| async move {
            println!("  [client] echo: {}", preview(&frame));
        },
    )
    .node(addr)
    .heartbeat(Duration::from_millis(800), Duration::from_secs(3), || {
        Bytes::from_static(b"ping")
    })
    .backoff(Backoff::new(Duration::from_millis(200), Duration::from_secs(1)).max_attempts(20))
    .start();
    let event = |e: Option<ClientEvent>| -> io::Result<ClientEvent> {
        let e = e.ok_or_else(|| io::Error::other("the client stopped"))?;
        println!("  [client] {e}");
        Ok(e)
    };
    event(next(&mut client).await?)?;
    for text in ["hello", "from", "packwire-net"] {
        client
            .send(Bytes::from_static(text.as_bytes()))
            .map_err(io::Error::other)?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("\nthe client sends nothing for 2 s: its heartbeat keeps the link alive");
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("\nstopping the server");
    server.shutdown(Duration::from_secs(2)).await;
    event(next(&mut client).await?)?;
    // the server stays down for 600 ms: what the client does meanwhile is printed as it
    // happens (its attempts to reconnect fail)
    let back_at = tokio::time::Instant::now() + Duration::from_millis(600);
    loop {
        tokio::select! {
            e = client.next_event() => { event(e)?; }
            () = tokio::time::sleep_until(back_at) => break,
        }
    }
    println!("\nstarting the server again on {addr}");
    let server = make_server(addr.to_string(), pings.clone()).await?;
    loop {
        if let ClientEvent::Connected { is_reconnect, .. } = event(next(&mut client).await?)? {
            if !is_reconnect {
                return Err(io::Error::other("expected a reconnect"));
            }
            break;
        }
    }
    client
        .send(Bytes::from_static(b"back again"))
        .map_err(io::Error::other)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "\nserver statistics (after the restart, the client still connected):\n{}",
        server.stats()
    );
    client.shutdown().await;
    server.shutdown(Duration::from_secs(2)).await;
    if pings.load(Ordering::SeqCst) == 0 {
        return Err(io::Error::other("no heartbeat arrived"));
    }
    println!(
        "\nheartbeats received: {}; the client reconnected by itself",
        pings.load(Ordering::SeqCst)
    );
    Ok(())
}
