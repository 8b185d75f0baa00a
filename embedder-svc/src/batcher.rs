//! Dynamic batching: each of a model's worker threads owns one ONNX session. Requests from every
//! caller queue their texts here; a free worker takes everything queued, sorts it by length (to
//! cut padding) and cuts it into batches bounded by a padded-token budget, runs the first and
//! leaves the rest for whichever worker is free next. While batches run, new texts queue up for
//! the next round, so batches grow with load without any waiting window.
//!
//! Several sessions (`--sessions`) run batches side by side, each on its own threads: under load
//! that beats one session splitting each small batch across threads that wait on each other, but
//! a lone request then gets fewer threads; `config::DEFAULT_SESSIONS` says what was measured.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Most of a batch's computed tokens that may be padding, in percent: a text that would
    /// push its batch past it starts the next one.
    pub max_padding_pct: usize,
}

/// The handle callers queue texts with; dropping it (`stop`) ends the workers once the queue is
/// empty.
pub struct Batcher {
    tx: mpsc::UnboundedSender<Entry>,
    metrics: ModelMetrics,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the workers share: the queue, and the batches cut from a round but not yet taken.
struct Work {
    rx: mpsc::UnboundedReceiver<Entry>,
    ready: VecDeque<Vec<Entry>>,
}

impl Batcher {
    /// Starts one worker thread per backend (each owns its session).
    pub fn spawn(name: &str, backends: Vec<OrtBackend>, limits: BatchLimits) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = ModelMetrics::new(name);
        let work = Arc::new(Mutex::new(Work { rx, ready: VecDeque::new() }));
        let short = name.rsplit('/').next().unwrap_or(name);
        let threads = backends
            .into_iter()
            .enumerate()
            .filter_map(|(i, backend)| {
                let (m, work) = (metrics.clone(), work.clone());
                let spawned = std::thread::Builder::new().name(format!("embed-{short}-{i}")).spawn(move || worker(backend, &work, limits, &m));
                spawned.map_err(|e| warn!("cannot start batch worker: {e}")).ok()
            })
            .collect();
        Self { tx, metrics, threads }
    }

    /// Closes the queue and waits for the workers: whatever is queued is still computed.
    pub fn stop(self) {
        let Self { tx, threads, .. } = self;
        drop(tx);
        for t in threads {
            let _ = t.join();
        }
    }

    pub fn submit(&self, entry: Entry) -> Result<(), EmbedError> {
        self.tx.send(entry).map_err(|_| EmbedError::WorkerGone)?;
        self.metrics.queue_depth.inc();
        Ok(())
    }
}

fn worker(mut backend: OrtBackend, work: &Mutex<Work>, limits: BatchLimits, metrics: &ModelMetrics) {
    while let Some(batch) = next_batch(work, limits, metrics) {
        run_batch(&mut backend, batch, metrics);
    }
}

/// A batch left from a round, else a new round: everything queued, sorted by length and cut into
/// batches, the first returned and the rest left for the next free worker. The lock is held while
/// waiting for the queue, which is when there is nothing else to take. None once the queue is
/// closed and empty.
fn next_batch(work: &Mutex<Work>, limits: BatchLimits, metrics: &ModelMetrics) -> Option<Vec<Entry>> {
    let mut w = work.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(b) = w.ready.pop_front() {
        return Some(b);
    }
    loop {
        let mut round = vec![w.rx.blocking_recv()?];
        while let Ok(e) = w.rx.try_recv() {
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
        let mut batches: VecDeque<Vec<Entry>> = split(round, limits).into();
        if let Some(first) = batches.pop_front() {
            w.ready = batches;
            return Some(first);
        }
    }
}

/// Cuts a length-sorted round into batches whose padded size (texts × longest) fits the budget
/// and whose padding stays under its share. A single text always forms a batch, whatever its
/// length, so nothing can wait forever.
fn split(round: Vec<Entry>, limits: BatchLimits) -> Vec<Vec<Entry>> {
    let mut batches = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    let mut real = 0usize;
    for e in round {
        let longest = e.ids.len(); // sorted ascending: the newcomer is the longest
        let padded = (current.len() + 1) * longest;
        // Sorted ascending, so real + longest ≤ padded; compared without rounding.
        let too_padded = 100 * (padded - (real + longest)) > limits.max_padding_pct * padded;
        if !current.is_empty()
            && (current.len() + 1 > limits.max_batch_texts || padded > limits.max_batch_tokens || too_padded)
        {
            batches.push(std::mem::take(&mut current));
            real = 0;
        }
        real += longest;
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
                let _ = e.reply.send(crate::backend::finite(vector).map(|vector| Embedded { vector, queue_us, inference_us }));
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
        let limits = BatchLimits { max_batch_tokens: 40, max_batch_texts: 3, max_padding_pct: 100 };
        let sizes = |round: &[usize], limits| -> Vec<Vec<usize>> {
            split(round.iter().copied().map(entry).collect(), limits).iter().map(|b| b.iter().map(|e| e.ids.len()).collect()).collect()
        };
        // [2,3,5] hits the count cap; [10,10] fits 2×10; 30 alone (2×30 > 40); 100 alone despite the budget.
        assert_eq!(sizes(&[2, 3, 5, 10, 10, 30, 100], limits), vec![vec![2, 3, 5], vec![10, 10], vec![30], vec![100]]);
        // At most 20 % padding: 9, 10 and 12 join 8 (5, 10, 18 %); 20 would make it 41 %, 40 beside 20 and 21 32 %.
        let limits = BatchLimits { max_batch_tokens: 1000, max_batch_texts: 10, max_padding_pct: 20 };
        assert_eq!(sizes(&[8, 9, 10, 12, 20, 21, 40], limits), vec![vec![8, 9, 10, 12], vec![20, 21], vec![40]]);
        // 0 % means none at all (no rounding lets 1 % through): only equal lengths share a batch.
        let limits = BatchLimits { max_batch_tokens: 1000, max_batch_texts: 10, max_padding_pct: 0 };
        assert_eq!(sizes(&[5, 5, 6, 200, 201], limits), vec![vec![5, 5], vec![6], vec![200], vec![201]]);
    }
}
