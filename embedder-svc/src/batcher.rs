//! Dynamic batching: one worker thread per model owns the ONNX session. Requests from every caller
//! queue their texts here; each round the worker takes everything queued, sorts it by length (to
//! cut padding) and runs it in batches bounded by a padded-token budget. While a round runs, new
//! texts queue up for the next, so batches grow with load without any waiting window.
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{Span, debug, info_span, warn};

use crate::backend::OrtBackend;
use crate::error::EmbedError;
use crate::metrics::ModelMetrics;
use crate::pooling::Pooling;

/// One text waiting to be embedded.
pub struct Entry {
    pub ids: Vec<u32>,
    pub pooling: Pooling,
    pub deadline: Option<Instant>,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Result<Embedded, EmbedError>>,
    /// The request's span: each batch holding its texts gets a `batch` span under it, so one
    /// request is one trace even when its texts share batches with other requests'.
    pub span: Span,
    /// The request's `queue_wait` span: it ends when the last of its texts starts a batch.
    pub queued: Span,
}

#[derive(Debug, Clone)]
pub struct Embedded {
    pub vector: Vec<f32>,
    pub queue_us: u64,
    pub inference_us: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_batch_tokens: usize,
    pub max_batch_texts: usize,
}

/// The handle callers queue texts with; dropping it (`stop`) ends the worker once the queue is
/// empty.
pub struct Batcher {
    tx: mpsc::UnboundedSender<Entry>,
    metrics: ModelMetrics,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Batcher {
    /// Starts the worker thread that owns `backend`.
    pub fn spawn(name: &str, backend: OrtBackend, limits: BatchLimits) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = ModelMetrics::new(name);
        let m = metrics.clone();
        let thread_name = format!("embed-{}", name.rsplit('/').next().unwrap_or(name));
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || worker(backend, rx, limits, &m));
        let thread = spawned.map_err(|e| warn!("cannot start batch worker: {e}")).ok();
        Self { tx, metrics, thread }
    }

    /// Closes the queue and waits for the worker: whatever is queued is still computed.
    pub fn stop(self) {
        let Self { tx, thread, .. } = self;
        drop(tx);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    pub fn submit(&self, entry: Entry) -> Result<(), EmbedError> {
        self.tx.send(entry).map_err(|_| EmbedError::WorkerGone)?;
        self.metrics.queue_depth.inc();
        Ok(())
    }
}

fn worker(mut backend: OrtBackend, mut rx: mpsc::UnboundedReceiver<Entry>, limits: BatchLimits, metrics: &ModelMetrics) {
    while let Some(first) = rx.blocking_recv() {
        let mut round = vec![first];
        while let Ok(e) = rx.try_recv() {
            round.push(e);
        }
        let now = Instant::now();
        let taken = round.len();
        round.retain(|e| {
            if e.reply.is_closed() {
                return false; // caller gave up (deadline or disconnect): not computed
            }
            e.deadline.is_none_or(|d| d > now)
        });
        // Texts leave the queue (depth) when their batch starts, or here when dropped.
        metrics.queue_depth.sub((taken - round.len()) as i64);
        round.sort_by_key(|e| e.ids.len());
        for batch in split(round, limits) {
            run_batch(&mut backend, batch, metrics);
        }
    }
}

/// Cuts a length-sorted round into batches whose padded size (texts × longest) fits the budget.
/// A single text always forms a batch, whatever its length, so nothing can wait forever.
fn split(round: Vec<Entry>, limits: BatchLimits) -> Vec<Vec<Entry>> {
    let mut batches = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    for e in round {
        let longest = e.ids.len(); // sorted ascending: the newcomer is the longest
        if !current.is_empty()
            && (current.len() + 1 > limits.max_batch_texts || (current.len() + 1) * longest > limits.max_batch_tokens)
        {
            batches.push(std::mem::take(&mut current));
        }
        current.push(e);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn run_batch(backend: &mut OrtBackend, batch: Vec<Entry>, metrics: &ModelMetrics) {
    let start = Instant::now();
    metrics.queue_depth.sub(batch.len() as i64);
    // Last look: a deadline may have passed while earlier batches of this round ran.
    let (live, expired): (Vec<Entry>, Vec<Entry>) =
        batch.into_iter().partition(|e| !e.reply.is_closed() && e.deadline.is_none_or(|d| d > start));
    for e in expired {
        let _ = e.reply.send(Err(EmbedError::DeadlineExceeded));
    }
    if live.is_empty() {
        return;
    }
    let mut live = live;
    for e in &mut live {
        metrics.queue_wait.observe(start.duration_since(e.enqueued).as_secs_f64());
        e.queued = Span::none();
    }
    let texts: Vec<&[u32]> = live.iter().map(|e| e.ids.as_slice()).collect();
    let poolings: Vec<Pooling> = live.iter().map(|e| e.pooling).collect();
    let seq = texts.last().map(|t| t.len()).unwrap_or(0);
    let real: usize = texts.iter().map(|t| t.len()).sum();
    let padded = texts.len() * seq;
    let spans = batch_spans(&live, padded);
    let result = backend.embed(&texts, &poolings);
    drop(spans);
    let inference_us = start.elapsed().as_micros() as u64;
    metrics.inference.observe(start.elapsed().as_secs_f64());
    metrics.batch_texts.observe(texts.len() as f64);
    metrics.batch_padded.observe(padded as f64);
    metrics.tokens.inc_by(real as u64);
    metrics.padded.inc_by(padded as u64);
    debug!(texts = live.len(), seq, inference_us, "batch");
    match result {
        Ok(vectors) => {
            for (e, vector) in live.into_iter().zip(vectors) {
                let _enter = e.span.enter();
                let queue_us = start.duration_since(e.enqueued).as_micros() as u64;
                let _ = e.reply.send(Ok(Embedded { vector, queue_us, inference_us }));
            }
        }
        Err(err) => {
            warn!("batch of {} failed: {err}", live.len());
            for e in live {
                let _ = e.reply.send(Err(EmbedError::Inference(err.to_string())));
            }
        }
    }
}

/// A `batch` span with an `inference` span inside, under each request the batch serves.
fn batch_spans(live: &[Entry], padded: usize) -> Vec<(Span, Span)> {
    let mut seen = std::collections::HashSet::new();
    let requests = live.iter().filter(|e| e.span.id().is_some_and(|id| seen.insert(id))).count();
    let mut seen = std::collections::HashSet::new();
    live.iter()
        .filter(|e| e.span.id().is_some_and(|id| seen.insert(id)))
        .map(|e| {
            let batch = info_span!(parent: &e.span, "batch", texts = live.len(), padded_tokens = padded, requests);
            let inference = info_span!(parent: &batch, "inference");
            (batch, inference)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: usize) -> Entry {
        let (reply, _rx) = oneshot::channel();
        Entry { ids: vec![1; len], pooling: Pooling::Mean, deadline: None, enqueued: Instant::now(), reply, span: Span::none(), queued: Span::none() }
    }

    #[test]
    fn split_respects_padded_budget_and_count() {
        let limits = BatchLimits { max_batch_tokens: 40, max_batch_texts: 3 };
        let round: Vec<Entry> = [2, 3, 5, 10, 10, 30, 100].into_iter().map(entry).collect();
        let sizes: Vec<Vec<usize>> =
            split(round, limits).iter().map(|b| b.iter().map(|e| e.ids.len()).collect()).collect();
        // [2,3,5] hits the count cap; [10,10] fits 2×10; 30 alone (2×30 > 40); 100 alone despite the budget.
        assert_eq!(sizes, vec![vec![2, 3, 5], vec![10, 10], vec![30], vec![100]]);
    }
}
