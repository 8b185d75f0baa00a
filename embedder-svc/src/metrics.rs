//! embedder-svc's Prometheus families, per model (the catalogue is small and fixed, so the model
//! label is bounded). Tokens per second is `rate(strato_embedder_tokens_total[1m])`.
use std::sync::LazyLock;

use strato_proto::metrics::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, counter_vec, gauge_vec, histogram_vec, latency_buckets};

struct Families {
    queue_depth: IntGaugeVec,
    batch_texts: HistogramVec,
    batch_padded: HistogramVec,
    tokens: IntCounterVec,
    padded: IntCounterVec,
    queue_wait: HistogramVec,
    inference: HistogramVec,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let pow2 = |n: u32| (0..n).map(|i| f64::from(1u32 << i)).collect::<Vec<f64>>();
    Families {
        queue_depth: gauge_vec("strato_embedder_queue_depth", "Texts waiting for their batch to start.", &["model"]),
        batch_texts: histogram_vec("strato_embedder_batch_size", "Texts per batch run.", &["model"], pow2(10)),
        batch_padded: histogram_vec("strato_embedder_batch_padded_tokens", "Tokens per batch run, padding included (texts × longest).", &["model"], pow2(16)),
        tokens: counter_vec("strato_embedder_tokens_total", "Tokens embedded (padding excluded).", &["model"]),
        padded: counter_vec("strato_embedder_padded_tokens_total", "Tokens computed, padding included.", &["model"]),
        queue_wait: histogram_vec("strato_embedder_queue_wait_seconds", "From a text's arrival in the queue to the start of its batch.", &["model"], latency_buckets()),
        inference: histogram_vec("strato_embedder_inference_duration_seconds", "ONNX Runtime time per batch.", &["model"], latency_buckets()),
    }
});

/// One model's series, created at load so they read zero before the first request.
#[derive(Clone)]
pub struct ModelMetrics {
    pub queue_depth: IntGauge,
    pub batch_texts: Histogram,
    pub batch_padded: Histogram,
    pub tokens: IntCounter,
    pub padded: IntCounter,
    pub queue_wait: Histogram,
    pub inference: Histogram,
}

impl ModelMetrics {
    pub fn new(model: &str) -> Self {
        let f = &*FAMILIES;
        let l = &[model];
        Self {
            queue_depth: f.queue_depth.with_label_values(l),
            batch_texts: f.batch_texts.with_label_values(l),
            batch_padded: f.batch_padded.with_label_values(l),
            tokens: f.tokens.with_label_values(l),
            padded: f.padded.with_label_values(l),
            queue_wait: f.queue_wait.with_label_values(l),
            inference: f.inference.with_label_values(l),
        }
    }
}

/// Registers the families even when no model loaded (they then exist, empty of series).
pub fn install() {
    LazyLock::force(&FAMILIES);
}
