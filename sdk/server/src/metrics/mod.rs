//! Prometheus plumbing shared by passer's servers: encoding counters and
//! gauges read from existing atomics at scrape time, latency histograms
//! with one bucket layout, and the router that answers `GET /metrics`
//! (served by [`crate::observability`]).
//!
//! - `exposition`: OpenMetrics for scrapers that ask for it, the classic
//!   Prometheus text format for everyone else.
//! - `process`: the standard `process_*` series and `passer_build_info`.

pub mod exposition;
pub mod process;

pub use process::register_process_metrics;

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Writes one counter; `name` without the `_total` suffix the encoder adds.
pub fn encode_counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

/// Writes one gauge.
pub fn encode_gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: i64) -> std::fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// Writes a gauge family: one value per label set.
pub fn encode_gauge_family<S: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: &[(S, i64)],
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// A latency histogram in seconds, 50 µs to about 27 minutes.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 25))
}

/// The registry as OpenMetrics text.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::warn!(%error, "cannot encode metrics");
    }
    text
}

/// A router answering `GET /metrics` from `registry`, in OpenMetrics when
/// the scraper's `Accept` asks for it (Prometheus does), else in the
/// Prometheus text format 0.0.4.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let registry = Arc::clone(&registry);
            async move {
                let openmetrics = render(&registry);
                let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).unwrap_or("");
                if exposition::wants_openmetrics(accept) {
                    ([(header::CONTENT_TYPE, exposition::OPENMETRICS_CONTENT_TYPE)], openmetrics).into_response()
                } else {
                    let text = exposition::openmetrics_to_text(&openmetrics);
                    ([(header::CONTENT_TYPE, exposition::TEXT_CONTENT_TYPE)], text).into_response()
                }
            }
        }),
    )
}
