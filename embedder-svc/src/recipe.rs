//! How a model turns token states into one vector, read from the model directory's own
//! sentence-transformers files where the export carries them, so a newer export of the same
//! family loads unchanged:
//! - `1_Pooling/config.json`: CLS, mean or last-token pooling (else the manifest's default);
//! - `modules.json` → each `Dense` module's `config.json` and `model.safetensors`
//!   (`linear.weight` [out, in], `linear.bias`), applied in order after pooling;
//! - `config_sentence_transformers.json`: the named prompts (`query`, `document`, task names),
//!   prepended to a text before it is tokenized (their tokens are pooled too: `include_prompt`);
//! - `strato-model.json` `matryoshka_dims`: the lengths a vector may be cut to (then re-normalised).
//!
//! Every vector ends L2-normalised, as sentence-transformers' `Normalize` and Workers AI give it.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::EmbedError;
use crate::pooling::Pooling;

#[derive(Debug, Clone, Default)]
pub struct Recipe {
    /// From `1_Pooling/config.json`; None: the manifest's default (and a request may choose).
    pub pooling: Option<Pooling>,
    pub dense: Vec<Dense>,
    pub prompts: BTreeMap<String, String>,
}

/// One linear layer: `y = W x (+ b)`, W row-major [out][in]; the activation is the identity
/// (the only one the exports we serve use; another is refused at load).
#[derive(Debug, Clone)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct Module {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default)]
    bias: bool,
    #[serde(default)]
    activation_function: String,
}

fn load_err(path: &Path, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Load(format!("{}: {e}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, EmbedError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| load_err(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(load_err(path, e)),
    }
}

impl Recipe {
    /// Reads the recipe from `dir`; `dims` is the model's vector length (`strato-model.json`),
    /// which the last Dense layer must give and every Matryoshka length must be within.
    pub fn load(dir: &Path, dims: usize, matryoshka: &[usize]) -> Result<Self, EmbedError> {
        let mut r = Recipe::default();
        let pooling_path = dir.join("1_Pooling/config.json");
        if let Some(cfg) = read_json::<BTreeMap<String, Value>>(&pooling_path)? {
            let on = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
            let modes = ["cls_token", "mean_tokens", "lasttoken", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens"];
            let chosen: Vec<&str> = modes.into_iter().filter(|m| on(&format!("pooling_mode_{m}"))).collect();
            r.pooling = Some(match chosen.as_slice() {
                ["cls_token"] => Pooling::Cls,
                ["mean_tokens"] => Pooling::Mean,
                ["lasttoken"] => Pooling::LastToken,
                other => return Err(load_err(&pooling_path, format!("pooling {other:?} is not served: exactly one of cls_token, mean_tokens, lasttoken"))),
            });
            if cfg.get("include_prompt").and_then(Value::as_bool) == Some(false) {
                return Err(load_err(&pooling_path, "include_prompt false (pooling without the prompt's tokens) is not served"));
            }
        }
        let modules_path = dir.join("modules.json");
        for m in read_json::<Vec<Module>>(&modules_path)?.unwrap_or_default() {
            // What a module does to the vector must be understood, or the vectors would be wrong.
            match m.kind.rsplit('.').next().unwrap_or_default() {
                "Dense" => r.dense.push(Dense::load(&dir.join(&m.path))?),
                "Transformer" | "Pooling" | "Normalize" => {}
                other => return Err(load_err(&modules_path, format!("module {other} ({}) is not served", m.path))),
            }
        }
        for pair in r.dense.windows(2) {
            if pair[1].inputs != pair[0].outputs {
                return Err(load_err(&modules_path, format!("a Dense layer takes {} values, the one before gives {}", pair[1].inputs, pair[0].outputs)));
            }
        }
        if let Some(last) = r.dense.last().filter(|d| d.outputs != dims) {
            return Err(load_err(&modules_path, format!("the last Dense layer gives {} values; strato-model.json says {dims} dimensions", last.outputs)));
        }
        if let Some(&bad) = matryoshka.iter().find(|&&m| m == 0 || m > dims) {
            return Err(EmbedError::Load(format!("{}: matryoshka length {bad} is not within 1..={dims}", dir.display())));
        }
        let st_path = dir.join("config_sentence_transformers.json");
        if let Some(cfg) = read_json::<Value>(&st_path)?
            && let Some(prompts) = cfg.get("prompts").and_then(Value::as_object)
        {
            for (name, text) in prompts {
                let text = text.as_str().ok_or_else(|| load_err(&st_path, format!("prompt {name:?} is not a string")))?;
                r.prompts.insert(name.clone(), text.to_owned());
            }
        }
        Ok(r)
    }

    /// The vector's length after the dense layers (`hidden` when there are none).
    pub fn output_width(&self, hidden: usize) -> usize {
        self.dense.last().map_or(hidden, |d| d.outputs)
    }

    /// Pooled states → the model's vector: each Dense layer in turn (f64 sums).
    pub fn project(&self, mut v: Vec<f32>) -> Vec<f32> {
        for d in &self.dense {
            v = (0..d.outputs)
                .map(|o| {
                    let row = &d.weight[o * d.inputs..(o + 1) * d.inputs];
                    let s: f64 = row.iter().zip(&v).map(|(w, x)| f64::from(*w) * f64::from(*x)).sum();
                    (s + d.bias.as_ref().map_or(0.0, |b| f64::from(b[o]))) as f32
                })
                .collect();
        }
        v
    }
}

impl Dense {
    fn load(dir: &Path) -> Result<Self, EmbedError> {
        let cfg_path = dir.join("config.json");
        let cfg: DenseConfig = read_json(&cfg_path)?.ok_or_else(|| load_err(&cfg_path, "missing"))?;
        if !(cfg.activation_function.is_empty() || cfg.activation_function.ends_with("Identity")) {
            return Err(load_err(&cfg_path, format!("activation {} is not supported (only Identity)", cfg.activation_function)));
        }
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| load_err(&path, e))?;
        let tensors = crate::safetensors::read(&bytes).map_err(|e| load_err(&path, e))?;
        let weight = tensors.get("linear.weight").ok_or_else(|| load_err(&path, "no tensor linear.weight"))?;
        if weight.shape != [cfg.out_features, cfg.in_features] {
            return Err(load_err(&path, format!("linear.weight is {:?}, config says [{}, {}]", weight.shape, cfg.out_features, cfg.in_features)));
        }
        let bias = match (cfg.bias, tensors.get("linear.bias")) {
            (true, Some(b)) if b.shape == [cfg.out_features] => Some(b.values.clone()),
            (true, _) => return Err(load_err(&path, format!("config says bias, but linear.bias is not [{}]", cfg.out_features))),
            (false, _) => None,
        };
        Ok(Dense { inputs: cfg.in_features, outputs: cfg.out_features, weight: weight.values.clone(), bias })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_server_cannot_do_is_refused_at_load() {
        let dir = std::env::temp_dir().join(format!("strato-recipe-{}", std::process::id()));
        let write = |rel: &str, v: serde_json::Value| {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, v.to_string()).expect("write");
        };
        let cases = [
            (serde_json::json!({"pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": true}), None, "not served"),
            (serde_json::json!({"pooling_mode_mean_tokens": true, "include_prompt": false}), None, "include_prompt"),
            (serde_json::json!({"pooling_mode_cls_token": true}), Some("sentence_transformers.models.LayerNorm"), "LayerNorm"),
        ];
        for (pooling, module, says) in cases {
            let _ = std::fs::remove_dir_all(&dir);
            write("1_Pooling/config.json", pooling);
            let mut modules = vec![serde_json::json!({"path": "", "type": "sentence_transformers.models.Transformer"})];
            if let Some(kind) = module {
                modules.push(serde_json::json!({"path": "2_X", "type": kind}));
            }
            write("modules.json", serde_json::Value::Array(modules));
            let e = Recipe::load(&dir, 8, &[]).expect_err("refused");
            assert!(e.to_string().contains(says), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dense_layers_apply_in_order() {
        let r = Recipe {
            dense: vec![
                Dense { inputs: 2, outputs: 3, weight: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], bias: None },
                Dense { inputs: 3, outputs: 1, weight: vec![1.0, 2.0, 3.0], bias: Some(vec![0.5]) },
            ],
            ..Default::default()
        };
        // [2, 5] → [2, 5, 7] → 2 + 10 + 21 + 0.5
        assert_eq!(r.project(vec![2.0, 5.0]), vec![33.5]);
        assert_eq!(r.output_width(2), 1);
    }
}
