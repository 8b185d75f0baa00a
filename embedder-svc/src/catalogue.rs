//! The model catalogue, keyed by Workers AI model names, and the per-directory manifest that
//! tells the loader what a model directory holds.
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::EmbedError;
use crate::pooling::Pooling;

/// Workers AI's limit on texts per call (spec §5.2).
pub const MAX_TEXTS_PER_REQUEST: usize = 100;

/// A model Strato knows by name, whether or not it is on this machine.
#[derive(Debug, Clone)]
pub struct KnownModel {
    pub name: &'static str,
    pub dimensions: usize,
    pub max_tokens: usize,
    pub default_pooling: Pooling,
}

/// Workers AI's embedding models (spec §5.1) and the test model that PyPI packages ship. The
/// newer three take their recipe (pooling, dense layers, prompts) from their export's files
/// (`recipe.rs`); what is listed here is what ListModels says before their files are present.
pub const KNOWN: &[KnownModel] = &[
    KnownModel { name: "@cf/baai/bge-small-en-v1.5", dimensions: 384, max_tokens: 512, default_pooling: Pooling::Mean },
    KnownModel { name: "@cf/baai/bge-base-en-v1.5", dimensions: 768, max_tokens: 512, default_pooling: Pooling::Mean },
    KnownModel { name: "@cf/baai/bge-large-en-v1.5", dimensions: 1024, max_tokens: 512, default_pooling: Pooling::Mean },
    KnownModel { name: "@cf/baai/bge-m3", dimensions: 1024, max_tokens: 8192, default_pooling: Pooling::Cls },
    KnownModel { name: "@cf/google/embeddinggemma-300m", dimensions: 768, max_tokens: 2048, default_pooling: Pooling::Mean },
    KnownModel { name: "@cf/qwen/qwen3-embedding-0.6b", dimensions: 1024, max_tokens: 8192, default_pooling: Pooling::LastToken },
    KnownModel { name: "@strato/all-minilm-l6-v2", dimensions: 384, max_tokens: 512, default_pooling: Pooling::Mean },
];

/// `strato-model.json`, written by scripts/provision.sh beside `model.onnx` and `tokenizer.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub dimensions: usize,
    pub max_tokens: usize,
    /// Pooling when the directory has no `1_Pooling/config.json` (and a request names none).
    #[serde(default)]
    pub default_pooling: Option<Pooling>,
    /// Graph output: token states [batch, seq, hidden], or vectors already pooled (and projected)
    /// [batch, dims], as exports with a baked-in `sentence_embedding` give them.
    #[serde(default = "default_output")]
    pub output: String,
    /// The graph's file (`model.onnx`; `model_quantized.onnx` for an int8 variant). External
    /// data (`model.onnx_data`) beside it is found by ONNX Runtime.
    #[serde(default = "default_onnx")]
    pub onnx: String,
    /// Matryoshka lengths a vector may be cut to (`dimensions` of a request), e.g. [768, 512, 256, 128].
    #[serde(default)]
    pub matryoshka_dims: Vec<usize>,
}

fn default_onnx() -> String {
    "model.onnx".to_owned()
}

fn default_output() -> String {
    "last_hidden_state".to_owned()
}

/// A model directory found on disk.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelDir {
    pub fn onnx(&self) -> PathBuf {
        self.dir.join(&self.manifest.onnx)
    }
    pub fn tokenizer(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }
}

/// Every complete model directory under `root` (sub-directories with a manifest), sorted by name.
/// A directory whose manifest contradicts the catalogue is an error, not a silent skip.
pub fn discover(root: &Path) -> Result<Vec<ModelDir>, EmbedError> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| EmbedError::Load(format!("cannot read models dir {}: {e}", root.display())))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let path = dir.join("strato-model.json");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))?;
        if manifest.dimensions == 0 || manifest.max_tokens == 0 {
            return Err(EmbedError::Load(format!("{}: dimensions and max_tokens must be above 0", path.display())));
        }
        if let Some(known) = KNOWN.iter().find(|k| k.name == manifest.name)
            && known.dimensions != manifest.dimensions
        {
            return Err(EmbedError::Load(format!(
                "{}: {} has {} dimensions, manifest says {}",
                path.display(),
                known.name,
                known.dimensions,
                manifest.dimensions
            )));
        }
        found.push(ModelDir { dir, manifest });
    }
    found.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest of 0 dimensions or tokens is refused when the directory is read (it would
    /// otherwise load and panic on the first batch, cutting rows of width 0).
    #[test]
    fn zero_dimensions_or_tokens_are_refused() {
        let root = std::env::temp_dir().join(format!("strato-catalogue-{}", std::process::id()));
        for (dims, tokens, ok) in [(0, 512, false), (8, 0, false), (8, 512, true)] {
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("m")).expect("dir");
            let manifest = format!(r#"{{"name": "@strato/zero", "dimensions": {dims}, "max_tokens": {tokens}}}"#);
            std::fs::write(root.join("m/strato-model.json"), manifest).expect("write");
            match discover(&root) {
                Ok(found) => assert!(ok && found.len() == 1, "{dims}/{tokens} accepted"),
                Err(e) => assert!(!ok && e.to_string().contains("above 0"), "{dims}/{tokens}: {e}"),
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
