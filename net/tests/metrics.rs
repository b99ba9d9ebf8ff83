//! The `/metrics` admin listener: what a Prometheus scraper gets from a running server and
//! client, parsed by a text-format parser.
#![cfg(feature = "metrics")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::LengthFieldCodec;
use packwire_net::metrics::{CONTENT_TYPE, Metrics};
use packwire_net::{Client, Conn, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{frame, wait_until};

/// One HTTP/1.1 exchange over a fresh connection: status line, headers, body.
async fn get(addr: std::net::SocketAddr, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the response was complete");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(": ")?;
                        name.eq_ignore_ascii_case("content-length").then_some(value)
                    })
                    .unwrap_or_else(|| panic!("no Content-Length in {head:?}"))
                    .parse()
                    .unwrap();
                if body.len() >= len {
                    return (head.to_string(), body[..len].to_string());
                }
            }
        }
    })
    .await
    .expect("a response in time");
    let status = head.lines().next().unwrap().to_string();
    (status, head, body)
}

/// Every sample of the scrape, keyed by name and sorted labels.
fn samples(body: &str) -> HashMap<String, f64> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the text format parses");
    let mut out = HashMap::new();
    for s in scrape.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = |extra: Option<String>| {
            let all: Vec<String> = labels.iter().cloned().chain(extra).collect();
            format!("{}{{{}}}", s.metric, all.join(","))
        };
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => {
                out.insert(key(None), v);
            }
            // a histogram's buckets, one key each: `name{labels,le=0.001}` (cumulative)
            prometheus_parse::Value::Histogram(buckets) => {
                for b in buckets {
                    out.insert(key(Some(format!("le={}", b.less_than))), b.count);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn a_scrape_reports_the_servers_and_clients_counters() {
    let server = Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, f: Bytes| async move {
            let _ = conn.send(f).await;
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let client = Client::builder(LengthFieldCodec::new, |_c: Conn<Bytes>, _f: Bytes| async {})
        .node(server.local_addr())
        .start();
    let metrics = Metrics::new();
    metrics.add_server("echo", &server);
    metrics.add_client("upstream", &client);
    let admin = metrics.serve("127.0.0.1:0").await.unwrap();

    // two frames from a raw socket, echoed; the client connects
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    raw.write_all(&[frame(b"one"), frame(b"two")].concat())
        .await
        .unwrap();
    let mut echo = vec![0u8; 14];
    raw.read_exact(&mut echo).await.unwrap();
    wait_until(|| server.stats().current == 2 && client.conn().is_some()).await;

    let (status, head, body) = get(
        admin.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        head.contains(&format!("Content-Type: {CONTENT_TYPE}")),
        "{head}"
    );
    let s = samples(&body);
    let at = |k: &str| *s.get(k).unwrap_or_else(|| panic!("no {k} in\n{body}"));
    assert_eq!(
        at("packwire_connections_accepted_total{endpoint=echo}"),
        2.0
    );
    assert_eq!(at("packwire_connections_open{endpoint=echo}"), 2.0);
    assert_eq!(at("packwire_messages_received_total{endpoint=echo}"), 2.0);
    assert_eq!(at("packwire_bytes_received_total{endpoint=echo}"), 14.0);
    assert_eq!(at("packwire_messages_sent_total{endpoint=echo}"), 2.0);
    assert_eq!(
        at("packwire_connections_accepted_total{endpoint=upstream}"),
        1.0
    );
    assert_eq!(
        at("packwire_connections_closed_total{endpoint=echo,reason=peer_closed}"),
        0.0
    );

    // a closed connection is counted by its reason at the next scrape
    drop(raw);
    wait_until(|| server.stats().current == 1).await;
    let (_, _, body) = get(admin.local_addr(), "GET /metrics HTTP/1.1\r\n\r\n").await;
    let s = samples(&body);
    assert_eq!(
        s["packwire_connections_closed_total{endpoint=echo,reason=peer_closed}"],
        1.0
    );
    assert_eq!(s["packwire_connections_open{endpoint=echo}"], 1.0);

    let (status, _, _) = get(admin.local_addr(), "GET /other HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = get(
        admin.local_addr(),
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");

    admin.shutdown(Duration::from_secs(1)).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_timed_server_exports_its_handler_time_histogram() {
    let server = Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, f: Bytes| {
        if f.as_ref() == b"slow" {
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .handler_timing(true)
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let untimed = Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, _: Bytes| {})
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let metrics = Metrics::new();
    metrics.add_server("timed", &server);
    metrics.add_server("untimed", &untimed);
    let admin = metrics.serve("127.0.0.1:0").await.unwrap();
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    raw.write_all(&[frame(b"slow"), frame(b"a"), frame(b"b")].concat())
        .await
        .unwrap();
    wait_until(|| server.stats().handler_time.is_some_and(|t| t.count == 3)).await;

    let (_, _, body) = get(admin.local_addr(), "GET /metrics HTTP/1.1\r\n\r\n").await;
    let s = samples(&body);
    let at = |k: &str| *s.get(k).unwrap_or_else(|| panic!("no {k} in\n{body}"));
    assert_eq!(at("packwire_handler_seconds_count{endpoint=timed}"), 3.0);
    assert!(at("packwire_handler_seconds_sum{endpoint=timed}") >= 0.002);
    assert_eq!(at("packwire_handler_seconds{endpoint=timed,le=inf}"), 3.0);
    // cumulative: at most the two fast calls below 2 ms, all three below 275 s
    let below_2ms = at("packwire_handler_seconds{endpoint=timed,le=0.001048576}");
    assert!(below_2ms <= 2.0, "{body}");
    assert_eq!(
        at("packwire_handler_seconds{endpoint=timed,le=137.438953472}"),
        3.0
    );
    assert!(
        !body.contains("packwire_handler_seconds_count{endpoint=\"untimed\"}"),
        "an untimed server has no histogram:\n{body}"
    );
    drop(raw);
    admin.shutdown(Duration::from_secs(1)).await;
    server.shutdown(Duration::from_secs(1)).await;
    untimed.shutdown(Duration::from_secs(1)).await;
}
