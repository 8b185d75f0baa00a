//! ONNX Runtime backend: one session (a model may have several, batcher.rs), fed right-padded
//! batches of token ids (with `position_ids` and an empty key/value cache where a decoder export
//! declares them); pools each row and applies the model's recipe (`recipe.rs`). float16 graphs (the `model_fp16.onnx`
//! exports) get float16 caches and have their output widened to f32 before pooling, so the
//! pooling, projection and normalisation are the same f32 code for every variant. Only this file
//! knows about `ort`.
use std::borrow::Cow;
use std::sync::Arc;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{DynValue, Tensor, TensorElementType};

use crate::catalogue::ModelDir;
use crate::config::Device;
use crate::error::EmbedError;
use crate::pooling::{self, Pooling};
use crate::recipe::Recipe;

/// The process's ONNX Runtime environment; sessions are made from it.
#[derive(Clone)]
pub struct Runtime(ort::environment::Environment);

/// Loads the ONNX Runtime shared library once per process; must run before any session is made.
pub fn init_runtime(lib: &std::path::Path) -> Result<Runtime, EmbedError> {
    if !lib.is_file() {
        return Err(EmbedError::Load(format!(
            "ONNX Runtime library not found at {} (run scripts/provision.sh, or pass --ort-lib)",
            lib.display()
        )));
    }
    let builder = ort::init_from(lib).map_err(|e| EmbedError::Load(format!("ONNX Runtime: {e}")))?;
    let env = builder
        .with_name("strato-embedder")
        .build()
        .map_err(|e| EmbedError::Load(format!("ONNX Runtime environment: {e}")))?;
    Ok(Runtime(env))
}

#[derive(Debug, Clone, Copy)]
pub struct BackendOptions {
    pub device: Device,
    pub cuda_device_id: i32,
    /// Intra-op threads per session; 0 = the CPUs this process may use, shared among sessions.
    pub intra_threads: usize,
    /// Sessions per model, each run by its own batch worker (batcher.rs).
    pub sessions: usize,
}

pub struct OrtBackend {
    session: Session,
    output: String,
    /// The graph's state width: the first Dense layer's input, else the model's dimensions.
    hidden: usize,
    recipe: Arc<Recipe>,
    /// Which optional inputs the graph declares (BERT exports differ; decoder exports add
    /// `position_ids` and an empty key/value cache).
    wants_token_type_ids: bool,
    wants_attention_mask: bool,
    wants_position_ids: bool,
    /// `past_key_values.*` inputs, their declared shapes (symbolic dimensions as -1) and types.
    empty_cache: Vec<(String, Vec<i64>, Float)>,
    /// The output's element type.
    output_type: Float,
    /// The graph's output is already one vector per text ([batch, dims]).
    pub pooled_in_graph: bool,
}

impl OrtBackend {
    pub fn load(runtime: &Runtime, model: &ModelDir, recipe: Arc<Recipe>, opts: BackendOptions) -> Result<Self, EmbedError> {
        let bad = |why: String| EmbedError::Load(format!("{}: {why}", model.onnx().display()));
        let err = |e: ort::Error<_>| bad(e.to_string());
        let threads = if opts.intra_threads == 0 {
            let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            (cpus / opts.sessions.max(1)).max(1)
        } else {
            opts.intra_threads
        };
        let mut builder = Session::builder(&runtime.0)
            .map_err(|e| EmbedError::Load(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(err)?
            .with_intra_threads(threads)
            .map_err(err)?
            // Spinning threads burn the cores that tokenization and gRPC need on small hosts.
            .with_intra_op_spinning(false)
            .map_err(err)?
            // One memory plan per input shape grows RSS without bound under varied lengths.
            .with_memory_pattern(false)
            .map_err(err)?;
        builder = with_device(builder, opts)?;
        let session = builder.commit_from_file(model.onnx()).map_err(|e| bad(e.to_string()))?;
        let has = |name: &str| session.inputs().iter().any(|i| i.name() == name);
        if !has("input_ids") {
            return Err(bad("graph has no input_ids input".to_owned()));
        }
        let output = model.manifest.output.clone();
        if !session.outputs().iter().any(|o| o.name() == output) {
            return Err(bad(format!("graph has no output {output:?}")));
        }
        let mut empty_cache = Vec::new();
        for i in session.inputs().iter().filter(|i| i.name().starts_with("past_key_values")) {
            let Some(float) = Float::of(i.dtype()) else {
                return Err(bad(format!("{} is {}; a cache input is float32 or float16", i.name(), i.dtype())));
            };
            let shape = i.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
            // [batch, heads, past, head size]: the batch and the past symbolic (an empty cache
            // has any batch and no past), heads and head size fixed.
            if shape.len() != 4 || shape[0] > 0 || shape[2] > 0 || shape[1] <= 0 || shape[3] <= 0 {
                return Err(bad(format!("{} is {shape:?}; a cache input is [batch, heads, past, head size] with batch and past symbolic", i.name())));
            }
            empty_cache.push((i.name().to_owned(), shape, float));
        }
        let hidden = recipe.dense.first().map_or(model.manifest.dimensions, |d| d.inputs);
        // The output's declared width, where the graph fixes it, must be what the recipe takes:
        // a mismatch is a load error, not a failure of every request.
        let out_type = session.outputs().iter().find(|o| o.name() == output).map(|o| o.dtype().clone());
        let output_type = match &out_type {
            None => Float::F32,
            Some(t) => Float::of(t).ok_or_else(|| bad(format!("output {output:?} is {t}; float32 or float16 graphs are served")))?,
        };
        let declared = out_type.and_then(|t| t.tensor_shape().map(|s| s.to_vec())).unwrap_or_default();
        let pooled_in_graph = declared.len() == 2;
        let want = if pooled_in_graph { recipe.output_width(hidden) } else { hidden };
        if let Some(&w) = declared.last()
            && w > 0
            && w as usize != want
        {
            return Err(bad(format!("output {output:?} is {w} wide, the model's recipe takes {want}")));
        }
        for i in session.inputs() {
            let known = ["input_ids", "attention_mask", "token_type_ids", "position_ids"].contains(&i.name()) || i.name().starts_with("past_key_values");
            if !known {
                return Err(bad(format!("input {:?} is not one this server feeds", i.name())));
            }
        }
        Ok(Self {
            pooled_in_graph,
            wants_token_type_ids: has("token_type_ids"),
            wants_attention_mask: has("attention_mask"),
            wants_position_ids: has("position_ids"),
            empty_cache,
            output_type,
            session,
            output,
            hidden,
            recipe,
        })
    }

    /// Runs one batch; returns one pooled, L2-normalised vector per text, in input order.
    pub fn embed(&mut self, texts: &[&[u32]], poolings: &[Pooling]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let n = texts.len();
        let seq = texts.iter().map(|t| t.len()).max().unwrap_or(0);
        if n == 0 || seq == 0 {
            return Ok(Vec::new());
        }
        let mut ids = vec![0i64; n * seq];
        let mut mask = vec![0i64; n * seq];
        for (row, t) in texts.iter().enumerate() {
            for (col, id) in t.iter().enumerate() {
                ids[row * seq + col] = i64::from(*id);
                mask[row * seq + col] = 1;
            }
        }
        let shape = vec![n as i64, seq as i64];
        let infer = |e: ort::Error| EmbedError::Inference(e.to_string());
        let mut inputs: Vec<(Cow<'_, str>, DynValue)> = Vec::with_capacity(3);
        if self.wants_token_type_ids {
            inputs.push(("token_type_ids".into(), Tensor::from_array((shape.clone(), vec![0i64; n * seq])).map_err(infer)?.into_dyn()));
        }
        if self.wants_attention_mask {
            inputs.push(("attention_mask".into(), Tensor::from_array((shape.clone(), mask)).map_err(infer)?.into_dyn()));
        }
        if self.wants_position_ids {
            // Each row from 0: rows are right-padded, so a text's positions do not depend on its
            // neighbours (the pads after it are masked, and never attended by a causal model).
            let pos: Vec<i64> = (0..n).flat_map(|_| 0..seq as i64).collect();
            inputs.push(("position_ids".into(), Tensor::from_array((shape.clone(), pos)).map_err(infer)?.into_dyn()));
        }
        for (name, declared, float) in &self.empty_cache {
            // An empty cache: batch n, no past positions, the declared heads and head size.
            let dims: Vec<i64> = declared.iter().enumerate().map(|(i, d)| if i == 0 { n as i64 } else { (*d).max(0) }).collect();
            let empty = match float {
                Float::F32 => Tensor::from_array((dims, Vec::<f32>::new())).map_err(infer)?.into_dyn(),
                Float::F16 => Tensor::from_array((dims, Vec::<half::f16>::new())).map_err(infer)?.into_dyn(),
            };
            inputs.push((name.as_str().into(), empty));
        }
        inputs.push(("input_ids".into(), Tensor::from_array((shape, ids)).map_err(infer)?.into_dyn()));
        let outputs = self.session.run(inputs).map_err(infer)?;
        let value = outputs
            .get(&self.output)
            .ok_or_else(|| EmbedError::Inference(format!("no output {:?}", self.output)))?;
        let (out_shape, hidden): (_, Cow<'_, [f32]>) = match self.output_type {
            Float::F32 => value.try_extract_tensor::<f32>().map(|(s, v)| (s, v.into())).map_err(infer)?,
            Float::F16 => value.try_extract_tensor::<half::f16>().map(|(s, v)| (s, v.iter().map(|h| h.to_f32()).collect())).map_err(infer)?,
        };
        let width = out_shape.last().copied().unwrap_or(0) as usize;
        if out_shape.first().copied() != Some(n as i64) {
            return Err(EmbedError::Inference(format!("unexpected output shape {:?}", &out_shape[..])));
        }
        // [batch, dims]: pooled (and projected) inside the graph, as `sentence_embedding` is.
        if out_shape.len() == 2 && width == self.recipe.output_width(self.hidden) {
            return Ok(hidden
                .chunks_exact(width)
                .map(|row| {
                    let mut v = row.to_vec();
                    pooling::l2_normalize(&mut v);
                    v
                })
                .collect());
        }
        if out_shape.len() != 3 || width != self.hidden || out_shape[1] != seq as i64 {
            return Err(EmbedError::Inference(format!("unexpected output shape {:?}", &out_shape[..])));
        }
        let row = seq * width;
        Ok(texts
            .iter()
            .zip(poolings)
            .enumerate()
            .map(|(i, (t, p))| {
                let mut v = self.recipe.project(pooling::pool(&hidden[i * row..(i + 1) * row], width, t.len(), *p));
                pooling::l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

/// A vector with an infinity or NaN in it (an fp16 graph overflowing past 65,504, say) is an
/// error of its text, not an answer: JSON cannot carry it, and an index would store garbage.
/// Checked per text (batcher.rs), so one text's overflow fails no other caller's.
pub fn finite(v: Vec<f32>) -> Result<Vec<f32>, EmbedError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(v)
    } else {
        Err(EmbedError::Inference("the model produced a non-finite value (inf or NaN; an fp16 graph overflowing?)".to_owned()))
    }
}

/// The float types a graph's cache inputs and output may have.
#[derive(Debug, Clone, Copy)]
enum Float {
    F32,
    F16,
}

impl Float {
    fn of(t: &ort::value::ValueType) -> Option<Self> {
        match t.tensor_type()? {
            TensorElementType::Float32 => Some(Self::F32),
            TensorElementType::Float16 => Some(Self::F16),
            _ => None,
        }
    }
}

#[cfg(feature = "cuda")]
fn with_device(builder: ort::session::builder::SessionBuilder, opts: BackendOptions) -> Result<ort::session::builder::SessionBuilder, EmbedError> {
    match opts.device {
        Device::Cpu => Ok(builder),
        Device::Cuda => builder
            .with_execution_providers([ort::ep::CUDA::default().with_device_id(opts.cuda_device_id).build().error_on_failure()])
            .map_err(|e| EmbedError::Load(format!("CUDA execution provider unavailable (is libonnxruntime a CUDA build, are CUDA/cuDNN installed?): {e}"))),
    }
}

#[cfg(not(feature = "cuda"))]
fn with_device(builder: ort::session::builder::SessionBuilder, opts: BackendOptions) -> Result<ort::session::builder::SessionBuilder, EmbedError> {
    match opts.device {
        Device::Cpu => Ok(builder),
        Device::Cuda => Err(EmbedError::Load(
            "--device cuda needs embedder-svc built with `--features cuda`".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_vector_is_an_error() {
        assert!(finite(vec![0.6, 0.8]).is_ok());
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            assert!(matches!(finite(vec![0.6, bad]), Err(EmbedError::Inference(_))), "{bad}");
        }
    }
}
