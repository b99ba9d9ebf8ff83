//! Statistics in the Prometheus text format (OpenMetrics), and an admin listener that
//! serves them at `GET /metrics` — itself a packwire [`Server`] speaking the `http1`
//! codec (feature `metrics`).
//!
//! ```no_run
//! use bytes::Bytes;
//! use packwire_codecs::LengthFieldCodec;
//! use packwire_net::{Conn, Server, metrics::Metrics};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::builder(LengthFieldCodec::new, |conn: Conn<Bytes>, frame: Bytes| async move {
//!     let _ = conn.send(frame).await;
//! })
//! .bind("127.0.0.1:9000")
//! .await?;
//! let metrics = Metrics::new();
//! metrics.add_server("echo", &server);
//! let admin = metrics.serve("127.0.0.1:9100").await?; // curl 127.0.0.1:9100/metrics
//! # Ok(()) }
//! ```
//!
//! Every series carries an `endpoint` label, the name given when the server or client was
//! added, so one admin listener serves several of them:
//!
//! | series | type | what |
//! |---|---|---|
//! | `packwire_connections_accepted_total` | counter | connections accepted (a client: made) |
//! | `packwire_connections_open` | gauge | connections open now |
//! | `packwire_connections_closed_total{reason}` | counter | connections closed, by [`CloseReason::name`](crate::CloseReason::name) |
//! | `packwire_messages_received_total`, `packwire_bytes_received_total` | counter | decoded messages, bytes read |
//! | `packwire_messages_sent_total`, `packwire_bytes_sent_total` | counter | messages and bytes written |
//! | `packwire_decode_errors_total` | counter | connections closed on a malformed frame |
//! | `packwire_queue_full_total` | counter | sends refused on a full queue |
//! | `packwire_handler_seconds` | histogram | how long handler calls took (only endpoints with `handler_timing(true)`; buckets at powers of two from 256 ns) |

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use packwire_codecs::http1::{BodyKind, Event, RequestHead, ResponseHead, ServerCodec};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::HandlerTime;
use crate::stats::{HANDLER_BUCKETS, Stats, StatsSnapshot};
use crate::{ClientHandle, CloseReason, Conn, Server, ServerHandle};

/// The content type of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The servers and clients whose statistics are exported. Cheap to clone: clones share
/// the list, so one added after [`Metrics::serve`] is served too.
#[derive(Clone, Default)]
pub struct Metrics {
    sources: Arc<Mutex<Vec<Source>>>,
}

/// An endpoint name and the counters exported under it.
type Source = (String, Arc<Stats>);

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.lock().iter().map(|(n, _)| n.clone()).collect();
        f.debug_struct("Metrics")
            .field("endpoints", &names)
            .finish()
    }
}

impl Metrics {
    /// Nothing exported yet.
    pub fn new() -> Self {
        Metrics::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Source>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exports a server's statistics under `endpoint`.
    pub fn add_server<M>(&self, endpoint: impl Into<String>, server: &ServerHandle<M>) {
        self.lock().push((endpoint.into(), server.stats_arc()));
    }

    /// Exports a client's statistics under `endpoint`.
    pub fn add_client<M>(&self, endpoint: impl Into<String>, client: &ClientHandle<M>) {
        self.lock().push((endpoint.into(), client.stats_arc()));
    }

    /// The statistics now, in the text format.
    pub fn encode(&self) -> String {
        let mut registry = Registry::with_prefix("packwire");
        let snapshots = self
            .lock()
            .iter()
            .map(|(n, s)| (n.clone(), s.snapshot()))
            .collect();
        registry.register_collector(Box::new(Snapshots(snapshots)));
        let mut out = String::new();
        // writing to a String cannot fail, and the collector only writes
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Starts an admin listener on `addr` that answers `GET /metrics` with
    /// [`Metrics::encode`] (404 for any other path, 405 for any other method).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn serve(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> io::Result<ServerHandle<Event<ResponseHead>>> {
        let metrics = self.clone();
        Server::builder(ServerCodec::new, move |conn, ev| {
            let metrics = metrics.clone();
            async move { answer(&metrics, conn, ev).await }
        })
        .bind(addr)
        .await
    }
}

/// Answers one request of the admin listener (at its head; the rest of it is ignored).
async fn answer(metrics: &Metrics, conn: Conn<Event<ResponseHead>>, ev: Event<RequestHead>) {
    let Event::Head(req) = ev else {
        return;
    };
    let path = req
        .target()
        .split(|&b| b == b'?')
        .next()
        .unwrap_or_default();
    let (status, reason, kind, body) = match (req.method(), path) {
        (b"GET", b"/metrics") => (200, "OK", CONTENT_TYPE, Bytes::from(metrics.encode())),
        (b"GET", _) => (
            404,
            "Not Found",
            "text/plain",
            Bytes::from_static(b"not found\n"),
        ),
        _ => (
            405,
            "Method Not Allowed",
            "text/plain",
            Bytes::from_static(b"only GET\n"),
        ),
    };
    let mut head = ResponseHead::new(
        status,
        reason,
        vec![("Content-Type", kind)],
        BodyKind::Length(body.len() as u64),
    );
    head.keep_alive = req.keep_alive;
    for ev in [Event::Head(head), Event::Data(body), Event::End] {
        if conn.send(ev).await.is_err() {
            return;
        }
    }
}

/// The snapshots of one scrape, written out as metric families.
#[derive(Debug)]
struct Snapshots(Vec<(String, StatsSnapshot)>);

impl Snapshots {
    fn counter(
        &self,
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        value: impl Fn(&StatsSnapshot) -> u64,
    ) -> fmt::Result {
        let c = ConstCounter::new(0u64);
        let mut family = enc.encode_descriptor(name, help, None, c.metric_type())?;
        for (endpoint, s) in &self.0 {
            let labels = [("endpoint", endpoint.as_str())];
            ConstCounter::new(value(s)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Collector for Snapshots {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut enc;
        self.counter(
            e,
            "connections_accepted",
            "Connections accepted (a client: made).",
            |s| s.accepted,
        )?;
        {
            let g = ConstGauge::new(0i64);
            let mut family = e.encode_descriptor(
                "connections_open",
                "Connections open now.",
                None,
                g.metric_type(),
            )?;
            for (endpoint, s) in &self.0 {
                let labels = [("endpoint", endpoint.as_str())];
                let open = i64::try_from(s.current).unwrap_or(i64::MAX);
                ConstGauge::new(open).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let c = ConstCounter::new(0u64);
            let mut family = e.encode_descriptor(
                "connections_closed",
                "Connections closed, by reason.",
                None,
                c.metric_type(),
            )?;
            for (endpoint, s) in &self.0 {
                for reason in CloseReason::NAMES {
                    let labels = [("endpoint", endpoint.as_str()), ("reason", reason)];
                    let n = ConstCounter::new(s.closed_for(reason));
                    n.encode(family.encode_family(&labels)?)?;
                }
            }
        }
        self.counter(e, "messages_received", "Messages decoded.", |s| {
            s.messages_in
        })?;
        self.counter(e, "bytes_received", "Bytes read.", |s| s.bytes_in)?;
        self.counter(e, "messages_sent", "Messages written.", |s| s.messages_out)?;
        self.counter(e, "bytes_sent", "Bytes written.", |s| s.bytes_out)?;
        self.counter(
            e,
            "decode_errors",
            "Connections closed because a frame was malformed.",
            |s| s.decode_errors,
        )?;
        self.counter(
            e,
            "queue_full",
            "Sends refused because a connection's queue was full.",
            |s| s.queue_full,
        )?;
        let timed: Vec<(&str, &HandlerTime)> = self
            .0
            .iter()
            .filter_map(|(n, s)| Some((n.as_str(), s.handler_time.as_ref()?)))
            .collect();
        if !timed.is_empty() {
            let mut family = e.encode_descriptor(
                "handler_seconds",
                "How long handler calls took.",
                None,
                prometheus_client::metrics::MetricType::Histogram,
            )?;
            for (endpoint, t) in timed {
                let labels = [("endpoint", endpoint)];
                Histogram(t).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// A handler-time snapshot as a Prometheus histogram: every bucket, the last (which
/// also holds everything longer) as `+Inf`.
struct Histogram<'a>(&'a HandlerTime);

impl EncodeMetric for Histogram<'_> {
    fn encode(&self, mut enc: prometheus_client::encoding::MetricEncoder<'_>) -> fmt::Result {
        let t = self.0;
        let buckets: Vec<(f64, u64)> = (0..HANDLER_BUCKETS)
            .map(|i| {
                let below_ns = 1u64 << (i + 8);
                let n = t
                    .buckets
                    .iter()
                    .find(|(b, _)| *b == below_ns)
                    .map_or(0, |(_, n)| *n);
                let le = if i + 1 == HANDLER_BUCKETS {
                    f64::MAX
                } else {
                    below_ns as f64 / 1e9
                };
                (le, n)
            })
            .collect();
        enc.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            t.sum_ns as f64 / 1e9,
            t.count,
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
}
