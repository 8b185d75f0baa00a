//! Pooling token states into one vector, and L2 normalisation: pure functions, unit-tested.
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Mean,
    Cls,
    /// The last real token's state (decoder models: Qwen3-Embedding). Rows are right-padded, so
    /// it is at `len - 1`: the state a left-padded batch has in its last column (a causal model
    /// never attends to the pads after it, and RoPE attention does not move with a shift).
    #[serde(rename = "last_token", alias = "lasttoken")]
    LastToken,
}

/// Pools one text's token states. `hidden` is the text's row of the batch output
/// (`seq_len × dim`, right-padded); `len` is its real token count (≥ 1).
pub fn pool(hidden: &[f32], dim: usize, len: usize, pooling: Pooling) -> Vec<f32> {
    match pooling {
        Pooling::Cls => hidden[..dim].to_vec(),
        Pooling::LastToken => hidden[len.saturating_sub(1) * dim..len.max(1) * dim].to_vec(),
        Pooling::Mean => {
            let mut acc = vec![0f64; dim];
            for token in hidden[..len * dim].chunks_exact(dim) {
                for (a, h) in acc.iter_mut().zip(token) {
                    *a += f64::from(*h);
                }
            }
            acc.iter().map(|a| (a / len as f64) as f32).collect()
        }
    }
}

/// Scales to unit length, accumulating in f64; a zero vector stays zero rather than becoming NaN.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ignores_padding() {
        // two real tokens, one pad row full of garbage
        let hidden = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        assert_eq!(pool(&hidden, 2, 2, Pooling::Mean), vec![2.0, 3.0]);
    }

    #[test]
    fn last_token_takes_the_last_real_one() {
        let hidden = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        assert_eq!(pool(&hidden, 2, 2, Pooling::LastToken), vec![3.0, 4.0]);
    }

    #[test]
    fn cls_takes_first_token() {
        let hidden = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(pool(&hidden, 2, 2, Pooling::Cls), vec![1.0, 2.0]);
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        let mut z = vec![0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }
}
