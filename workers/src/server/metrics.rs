//! `GET /metrics` (operator token), in Prometheus's text format: requests and latencies by
//! route and status, migrations by state, steps by outcome, the log's head and how far the
//! projections lag behind it, log appends and the latency of making them durable (fsync, or
//! produce on Kafka). Request metrics are kept by a middleware; the rest is read from the
//! application layer at each scrape.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::proto::{Bucket, Counter, Histogram, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::extract::{AppState, Authed};

use super::problem::Problem;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    migrations: IntGaugeVec,
    steps: IntGaugeVec,
    log: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("ferry".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer, by route and method",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method"],
        )?;
        let migrations = IntGaugeVec::new(
            Opts::new("migrations", "Import migrations by state"),
            &["state"],
        )?;
        let steps = IntGaugeVec::new(
            Opts::new("steps", "Import steps recorded, by outcome"),
            &["outcome"],
        )?;
        let log = IntGaugeVec::new(
            Opts::new(
                "log",
                "The log's head position and the projections' lag behind it, in records",
            ),
            &["measure"],
        )?;
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(migrations.clone()),
            Box::new(steps.clone()),
            Box::new(log.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            migrations,
            steps,
            log,
        })
    }
}

/// Counts and times every request, and logs it (`info`, structured).
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16().to_string();
    state
        .metrics
        .requests
        .with_label_values(&[&route, &method, &status])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[&route, &method])
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        method = %method,
        route = %route,
        status = %status,
        micros = elapsed.as_micros() as u64,
        "request"
    );
    response
}

/// The text exposition format, or the problem that stopped it.
pub struct Exposition(Response);

impl IntoResponse for Exposition {
    fn into_response(self) -> Response {
        self.0
    }
}

impl aide::OperationOutput for Exposition {
    type Inner = String;

    fn operation_response(
        _ctx: &mut aide::generate::GenContext,
        _operation: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        serde_json::from_value(serde_json::json!({
            "description": "Prometheus's text exposition format (version 0.0.4)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }))
        .ok()
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        let mut responses: Vec<_> = Self::operation_response(ctx, operation)
            .map(|r| vec![(Some(aide::openapi::StatusCode::Code(200)), r)])
            .unwrap_or_default();
        responses.extend(Problem::inferred_responses(ctx, operation));
        responses
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, Authed(caller): Authed) -> Exposition {
    Exposition(exposition(state, caller).await)
}

async fn exposition(state: AppState, caller: ferry_engine::app::Caller) -> Response {
    let numbers = state.call(move |ferry| ferry.numbers(&caller)).await;
    let numbers = match numbers {
        Ok(numbers) => numbers,
        Err(problem) => return problem.into_response(),
    };
    let m = &state.metrics;
    m.migrations.reset();
    for (phase, count) in &numbers.migrations {
        m.migrations.with_label_values(&[phase]).set(*count as i64);
    }
    m.steps
        .with_label_values(&["applied"])
        .set(numbers.steps_applied as i64);
    m.steps
        .with_label_values(&["failed"])
        .set(numbers.steps_failed as i64);
    m.log.with_label_values(&["head"]).set(numbers.head as i64);
    m.log
        .with_label_values(&["projection_lag"])
        .set(numbers.lag as i64);
    let mut families = m.registry.gather();
    families.extend(log_families(&numbers.log));
    let mut text = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut text) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The log's counters, kept by the engine, as metric families: two counters and a histogram
/// of the time appends waited to be durable.
fn log_families(stats: &ferry_engine::log::Stats) -> Vec<MetricFamily> {
    use ferry_engine::log::{Durability, BOUNDS};
    let family = |name: &str, help: &str, kind: MetricType, metric: Metric| {
        let mut family = MetricFamily::default();
        family.set_name(format!("ferry_{name}"));
        family.set_help(help.into());
        family.set_field_type(kind);
        family.set_metric(vec![metric]);
        family
    };
    let counter = |value: u64| {
        let mut counter = Counter::default();
        counter.set_value(value as f64);
        let mut metric = Metric::default();
        metric.set_counter(counter);
        metric
    };
    let mut families = vec![
        family(
            "log_appends_total",
            "Appends this process wrote to the log",
            MetricType::COUNTER,
            counter(stats.appends),
        ),
        family(
            "log_records_appended_total",
            "Records those appends wrote",
            MetricType::COUNTER,
            counter(stats.records),
        ),
    ];
    let (name, help) = match stats.durability {
        Durability::Fsync => (
            "log_fsync_duration_seconds",
            "Time of each fdatasync of the log file (one per group commit)",
        ),
        Durability::Produce => (
            "log_produce_duration_seconds",
            "Time from sending a claim to the brokers' confirmation",
        ),
        Durability::None => return families,
    };
    let buckets = BOUNDS
        .iter()
        .zip(&stats.durable_buckets)
        .map(|(bound, count)| {
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(*bound);
            bucket.set_cumulative_count(*count);
            bucket
        })
        .collect();
    let mut histogram = Histogram::default();
    histogram.set_sample_count(stats.durable_count);
    histogram.set_sample_sum(stats.durable_seconds);
    histogram.set_bucket(buckets);
    let mut metric = Metric::default();
    metric.set_histogram(histogram);
    families.push(family(name, help, MetricType::HISTOGRAM, metric));
    families
}
