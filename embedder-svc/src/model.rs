//! The registry of loaded models: validates a request, admits it against the queue bound,
//! tokenizes it off the async runtime, and hands its texts to the model's batcher.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokenizers::{Tokenizer, TruncationParams};
use tokio::sync::{Semaphore, oneshot};
use tracing::{Instrument, Span, info_span};

use crate::backend::{BackendOptions, OrtBackend, Runtime};
use crate::batcher::{BatchLimits, Batcher, Entry};
use crate::catalogue::{KNOWN, MAX_TEXTS_PER_REQUEST, ModelDir};
use crate::error::EmbedError;
use crate::pooling::{self, Pooling};
use crate::recipe::Recipe;

/// What ListModels tells about one model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub dimensions: usize,
    pub max_tokens: usize,
    pub default_pooling: Pooling,
    pub loaded: bool,
    pub source: String,
    /// Named prompts a request may ask for (`config_sentence_transformers.json`).
    pub prompts: Vec<String>,
    /// Lengths a vector may be cut to (Matryoshka); empty: the full length only.
    pub matryoshka: Vec<usize>,
}

struct LoadedModel {
    info: ModelInfo,
    recipe: Arc<Recipe>,
    /// The one pooling the model has (its export's 1_Pooling, or pooling inside the graph).
    fixed_pooling: Option<Pooling>,
    tokenizer: Arc<Tokenizer>,
    batcher: Batcher,
}

/// Requests up to this many bytes of text are tokenized on the async worker itself.
const INLINE_TOKENIZE_BYTES: usize = 4096;

pub struct EmbedParams {
    pub model: String,
    pub texts: Vec<String>,
    /// None = the model's default.
    pub pooling: Option<Pooling>,
    /// A named prompt of the model's (`query`, `document`, …), prepended to every text.
    pub prompt: Option<String>,
    /// Cut every vector to this many values and re-normalise (a Matryoshka model's lengths).
    pub dimensions: Option<usize>,
    /// Refuse a text over the model's token limit rather than truncate it.
    pub refuse_over_limit: bool,
    pub deadline: Option<Instant>,
}

pub struct EmbedOutput {
    pub dimensions: usize,
    pub vectors: Vec<Vec<f32>>,
    pub pooling: Pooling,
    pub tokens_per_text: Vec<u32>,
    pub tokenize_us: u64,
    pub queue_us: u64,
    pub inference_us: u64,
}

pub struct Registry {
    loaded: BTreeMap<String, LoadedModel>,
    /// Catalogue entries that are not loaded, with the reason.
    missing: BTreeMap<String, ModelInfo>,
    admission: Admission,
}

/// What a request holds while it is tokenized, queued and computed: one permit per text and one
/// per byte of (capped) text, so neither many short texts nor a few huge ones queue unboundedly.
pub struct Admission {
    texts: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_texts: usize,
    max_bytes: usize,
}

impl Admission {
    pub fn new(max_texts: usize, max_bytes: usize) -> Self {
        let max_bytes = max_bytes.min(Semaphore::MAX_PERMITS);
        Self { texts: Arc::new(Semaphore::new(max_texts)), bytes: Arc::new(Semaphore::new(max_bytes)), max_texts, max_bytes }
    }

    fn admit(&self, texts: usize, bytes: usize) -> Result<(tokio::sync::OwnedSemaphorePermit, tokio::sync::OwnedSemaphorePermit), EmbedError> {
        let over = |sem: &Semaphore, limit: usize, unit| EmbedError::Overloaded { queued: limit - sem.available_permits(), limit, unit };
        let t = self.texts.clone().try_acquire_many_owned(texts as u32).map_err(|_| over(&self.texts, self.max_texts, "texts"))?;
        let b = u32::try_from(bytes).ok().and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok()).ok_or_else(|| over(&self.bytes, self.max_bytes, "bytes"))?;
        Ok((t, b))
    }
}

/// Bytes of one text worth tokenizing: the model reads `max_tokens` tokens, and a WordPiece token
/// spans at most 100 characters (longer words are one [UNK]) of at most 4 bytes, plus a
/// separator; whatever lies beyond can't reach the model, so it is cut (at a character boundary)
/// before the tokenizer spends time on it. 512 tokens → 205 KB.
pub fn text_byte_cap(max_tokens: usize) -> usize {
    max_tokens.max(1) * 401
}

fn cap_text(mut t: String, cap: usize) -> String {
    if t.len() > cap {
        let mut end = cap;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    t
}

impl Registry {
    /// Loads every directory in `dirs` (those named in `wanted`, or all when it is empty).
    /// A model that fails to load is reported as not loaded; the others still serve.
    pub fn load(
        runtime: &Runtime,
        dirs: &[ModelDir],
        wanted: &[String],
        backend: BackendOptions,
        limits: BatchLimits,
        admission: Admission,
    ) -> Self {
        let mut loaded = BTreeMap::new();
        let mut missing = BTreeMap::new();
        for k in KNOWN {
            missing.insert(
                k.name.to_owned(),
                ModelInfo {
                    name: k.name.to_owned(),
                    dimensions: k.dimensions,
                    max_tokens: k.max_tokens,
                    default_pooling: k.default_pooling,
                    loaded: false,
                    source: "model files not provisioned (scripts/provision.sh --bge)".to_owned(),
                    prompts: Vec::new(),
                    matryoshka: Vec::new(),
                },
            );
        }
        for w in wanted {
            if !dirs.iter().any(|d| &d.manifest.name == w) {
                tracing::warn!(model = %w, "requested model has no directory under --models-dir");
            }
        }
        for dir in dirs.iter().filter(|d| wanted.is_empty() || wanted.contains(&d.manifest.name)) {
            let m = &dir.manifest;
            let mut info = ModelInfo {
                name: m.name.clone(),
                dimensions: m.dimensions,
                max_tokens: m.max_tokens,
                default_pooling: m.default_pooling.unwrap_or(Pooling::Mean),
                loaded: false,
                source: dir.dir.display().to_string(),
                prompts: Vec::new(),
                matryoshka: m.matryoshka_dims.clone(),
            };
            let _span = info_span!("load_model", model = %m.name).entered();
            match load_one(runtime, dir, backend) {
                Ok((tokenizer, recipe, backends)) => {
                    info.loaded = true;
                    // An explicit manifest default wins (BGE keeps Workers AI's mean, with CLS
                    // on request, even beside a CLS 1_Pooling); else the export's, else the catalogue's.
                    let catalogue = KNOWN.iter().find(|k| k.name == m.name).map(|k| k.default_pooling);
                    info.default_pooling = m.default_pooling.or(recipe.pooling).or(catalogue).unwrap_or(Pooling::Mean);
                    let fixed_pooling = if backends[0].pooled_in_graph {
                        Some(info.default_pooling)
                    } else if m.default_pooling.is_some() {
                        None
                    } else {
                        recipe.pooling
                    };
                    info.prompts = recipe.prompts.keys().cloned().collect();
                    tracing::info!(model = %m.name, dir = %dir.dir.display(), dims = m.dimensions, "model loaded");
                    let batcher = Batcher::spawn(&m.name, backends, limits);
                    missing.remove(&m.name);
                    loaded.insert(m.name.clone(), LoadedModel { info, recipe, fixed_pooling, tokenizer: Arc::new(tokenizer), batcher });
                }
                Err(e) => {
                    tracing::error!(model = %m.name, "model failed to load: {e}");
                    info.source = format!("{}: {e}", dir.dir.display());
                    missing.insert(m.name.clone(), info);
                }
            }
        }
        Self { loaded, missing, admission }
    }

    /// Stops every model's batch worker after its queue is empty (at shutdown, once the server
    /// has drained; a request still holding the registry keeps the workers until it ends).
    pub fn stop(self: Arc<Self>) {
        if let Ok(r) = Arc::try_unwrap(self) {
            for m in r.loaded.into_values() {
                m.batcher.stop();
            }
        }
    }

    /// Every model, loaded first, then the rest of the catalogue.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.loaded.values().map(|m| m.info.clone()).chain(self.missing.values().cloned()).collect()
    }

    pub fn model(&self, name: &str) -> Option<ModelInfo> {
        self.loaded.get(name).map(|m| m.info.clone()).or_else(|| self.missing.get(name).cloned())
    }

    pub async fn embed(&self, p: EmbedParams) -> Result<EmbedOutput, EmbedError> {
        validate(&p)?;
        let model = self.loaded.get(&p.model).ok_or_else(|| match self.missing.get(&p.model) {
            Some(_) => EmbedError::ModelNotLoaded(p.model.clone()),
            None => EmbedError::UnknownModel(p.model.clone()),
        })?;
        let n = p.texts.len();
        let (prompt, pooling, dims) = model.choices(&p)?;
        let cap = text_byte_cap(model.info.max_tokens);
        // A text cut to the byte cap is over the limit for sure; the tokenizer says of the rest.
        let mut capped = None;
        let texts: Vec<String> = (0..)
            .zip(p.texts)
            .map(|(i, t)| {
                let t = if prompt.is_empty() { t } else { format!("{prompt}{t}") };
                if t.len() > cap && capped.is_none() {
                    capped = Some(i);
                }
                cap_text(t, cap)
            })
            .collect();
        let _permits = self.admission.admit(n, texts.iter().map(String::len).sum())?;

        let t0 = Instant::now();
        let tokenizer = model.tokenizer.clone();
        let chars: usize = texts.iter().map(String::len).sum();
        let ids = if chars <= INLINE_TOKENIZE_BYTES {
            // A short request tokenizes in ~100 µs: cheaper here than a hop to the blocking pool.
            info_span!("tokenize", texts = n).in_scope(|| tokenize(&tokenizer, &texts))?
        } else {
            tokio::task::spawn_blocking(move || tokenize(&tokenizer, &texts))
                .instrument(info_span!("tokenize", texts = n))
                .await
                .map_err(|e| EmbedError::Tokenizer(e.to_string()))??
        };
        let (ids, truncated) = ids;
        if let Some(i) = ids.iter().position(Vec::is_empty) {
            return Err(EmbedError::InvalidArgument(format!("text {i} has no tokens for {}", model.info.name)));
        }
        if p.refuse_over_limit
            && let Some(i) = capped.or(truncated)
        {
            let why = if capped == Some(i) { format!("more bytes than {} tokens can hold", model.info.max_tokens) } else { format!("more than {} tokens", model.info.max_tokens) };
            return Err(EmbedError::InvalidArgument(format!("text {i} is longer than {} takes ({why}; truncation was not asked for)", model.info.name)));
        }
        let tokenize_us = t0.elapsed().as_micros() as u64;
        let tokens_per_text: Vec<u32> = ids.iter().map(|t| t.len() as u32).collect();

        let queued = info_span!("queue_wait", texts = n);
        let mut replies = Vec::with_capacity(n);
        for ids in ids {
            let (tx, rx) = oneshot::channel();
            let entry = Entry { ids, pooling, deadline: p.deadline, enqueued: Instant::now(), reply: tx, span: Span::current(), queued: queued.clone() };
            model.batcher.submit(entry)?;
            replies.push(rx);
        }
        drop(queued);
        let mut vectors = Vec::with_capacity(n);
        let (mut queue_us, mut inference_us) = (0, 0);
        async {
            for rx in replies {
                let e = rx.await.map_err(|_| EmbedError::DeadlineExceeded)??;
                queue_us = queue_us.max(e.queue_us);
                inference_us = inference_us.max(e.inference_us);
                vectors.push(e.vector);
            }
            Ok::<_, EmbedError>(())
        }
        .await?;
        Span::current().record("tokens", tokens_per_text.iter().map(|t| u64::from(*t)).sum::<u64>());
        if dims < model.info.dimensions {
            for v in &mut vectors {
                v.truncate(dims);
                pooling::l2_normalize(v);
            }
        }
        Ok(EmbedOutput { dimensions: dims, vectors, pooling, tokens_per_text, tokenize_us, queue_us, inference_us })
    }
}

impl LoadedModel {
    /// What a request asks of this model, checked: the prompt's text, the pooling, the length.
    fn choices(&self, p: &EmbedParams) -> Result<(&str, Pooling, usize), EmbedError> {
        let name = &self.info.name;
        let prompt = match &p.prompt {
            None => "",
            Some(k) => self.recipe.prompts.get(k).map(String::as_str).ok_or_else(|| {
                let known = if self.info.prompts.is_empty() { "it has none".to_owned() } else { format!("it has {}", self.info.prompts.join(", ")) };
                EmbedError::InvalidArgument(format!("{name} has no prompt named {k:?}: {known}"))
            })?,
        };
        // A model whose export fixes its pooling (1_Pooling/config.json, or pooling inside the
        // graph) pools only that way.
        let pooling = match (p.pooling, self.fixed_pooling) {
            (Some(asked), Some(fixed)) if asked != fixed => {
                return Err(EmbedError::InvalidArgument(format!("{name} pools by its own configuration ({fixed:?}); pooling {asked:?} is not available")));
            }
            (asked, _) => asked.unwrap_or(self.info.default_pooling),
        };
        let dims = match p.dimensions {
            None => self.info.dimensions,
            Some(d) if d == self.info.dimensions || self.info.matryoshka.contains(&d) => d,
            Some(d) if self.info.matryoshka.is_empty() => {
                return Err(EmbedError::InvalidArgument(format!("{name} gives {} dimensions only, not {d}", self.info.dimensions)));
            }
            Some(d) => {
                let lengths: Vec<String> = self.info.matryoshka.iter().map(usize::to_string).collect();
                return Err(EmbedError::InvalidArgument(format!("{name} can give {} dimensions, not {d}", lengths.join(", "))));
            }
        };
        Ok((prompt, pooling, dims))
    }
}

fn validate(p: &EmbedParams) -> Result<(), EmbedError> {
    if p.model.is_empty() {
        return Err(EmbedError::InvalidArgument("model is required (e.g. \"@cf/baai/bge-base-en-v1.5\")".to_owned()));
    }
    if p.texts.is_empty() {
        return Err(EmbedError::InvalidArgument("texts must hold at least one text".to_owned()));
    }
    if p.texts.len() > MAX_TEXTS_PER_REQUEST {
        return Err(EmbedError::InvalidArgument(format!(
            "at most {MAX_TEXTS_PER_REQUEST} texts per request, got {}",
            p.texts.len()
        )));
    }
    if let Some(i) = p.texts.iter().position(|t| t.is_empty()) {
        return Err(EmbedError::InvalidArgument(format!("text {i} is empty; every text needs at least one character")));
    }
    Ok(())
}

/// The tokenizer, the recipe and one backend per session (at least one).
fn load_one(runtime: &Runtime, dir: &ModelDir, backend: BackendOptions) -> Result<(Tokenizer, Arc<Recipe>, Vec<OrtBackend>), EmbedError> {
    let mut tokenizer = Tokenizer::from_file(dir.tokenizer())
        .map_err(|e| EmbedError::Load(format!("{}: {e}", dir.tokenizer().display())))?;
    // Longer inputs are truncated to the model's limit, as Workers AI does; we pad ourselves.
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: dir.manifest.max_tokens, ..Default::default() }))
        .map_err(|e| EmbedError::Load(e.to_string()))?;
    tokenizer.with_padding(None);
    let recipe = Arc::new(Recipe::load(&dir.dir, dir.manifest.dimensions, &dir.manifest.matryoshka_dims)?);
    let backends = (0..backend.sessions.max(1)).map(|_| OrtBackend::load(runtime, dir, recipe.clone(), backend)).collect::<Result<_, _>>()?;
    Ok((tokenizer, recipe, backends))
}

/// Each text's ids (truncated at the model's limit), and the first text that was truncated.
fn tokenize(tokenizer: &Tokenizer, texts: &[String]) -> Result<(Vec<Vec<u32>>, Option<usize>), EmbedError> {
    let mut truncated = None;
    let mut all = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let enc = tokenizer.encode(t.as_str(), true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        if truncated.is_none() && !enc.get_overflowing().is_empty() {
            truncated = Some(i);
        }
        all.push(enc.get_ids().to_vec());
    }
    Ok((all, truncated))
}
