//! The safetensors format, read whole into f32 (the Dense layers' weights are a few MB): an
//! 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`, then
//! the raw little-endian data. F32, F16 and BF16 are read; every offset is checked against the
//! file, so a truncated or corrupt file is an error, never a panic.
use std::collections::BTreeMap;

use serde::Deserialize;

pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

pub fn read(bytes: &[u8]) -> Result<BTreeMap<String, Tensor>, String> {
    let len_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or("shorter than its header length")?;
    let header_len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| "header length overflows")?;
    let data_start = 8usize.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or("header runs past the end of the file")?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes[8..data_start]).map_err(|e| format!("header: {e}"))?;
    let data = &bytes[data_start..];
    let mut out = BTreeMap::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let e: Entry = serde_json::from_value(v).map_err(|e| format!("{name}: {e}"))?;
        let [start, end] = e.data_offsets;
        let raw = data.get(start..end).filter(|_| start <= end).ok_or_else(|| format!("{name}: data offsets {start}..{end} outside the file"))?;
        let count = e.shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d)).ok_or_else(|| format!("{name}: shape overflows"))?;
        let width = match e.dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            other => return Err(format!("{name}: dtype {other} is not supported (F32, F16, BF16)")),
        };
        if Some(raw.len()) != count.checked_mul(width) {
            return Err(format!("{name}: {} bytes for {count} {} values", raw.len(), e.dtype));
        }
        let values = match e.dtype.as_str() {
            "F32" => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            "BF16" => raw.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            _ => raw.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        };
        out.insert(name, Tensor { shape: e.shape, values });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_f32_f16_bf16() {
        let mut data = Vec::new();
        data.extend_from_slice(&1.5f32.to_le_bytes());
        data.extend_from_slice(&(-2.0f32).to_le_bytes());
        data.extend_from_slice(&0x3c00u16.to_le_bytes()); // f16 1.0
        data.extend_from_slice(&0x0001u16.to_le_bytes()); // f16 smallest subnormal
        data.extend_from_slice(&0xbf80u16.to_le_bytes()); // bf16 -1.0
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]},"__metadata__":{"format":"pt"}}"#;
        let t = read(&file(h, &data)).expect("read");
        assert_eq!(t["a"].values, vec![1.5, -2.0]);
        assert_eq!(t["b"].values, vec![1.0, 2f32.powi(-24)]);
        assert_eq!(t["c"].values, vec![-1.0]);
    }

    #[test]
    fn a_bad_file_is_an_error() {
        assert!(read(b"\x01").is_err());
        assert!(read(&file("{", b"")).is_err());
        assert!(read(&u64::MAX.to_le_bytes()).is_err());
        let past = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(read(&file(past, &[0; 4])).is_err(), "data past the end");
        let huge = r#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#;
        assert!(read(&file(huge, &[])).is_err(), "a count whose bytes overflow");
        let wrong = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        assert!(read(&file(wrong, &[0; 8])).is_err(), "shape and bytes disagree");
        let backwards = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#;
        assert!(read(&file(backwards, &[0; 8])).is_err());
        let i64s = r#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#;
        assert!(read(&file(i64s, &[0; 8])).is_err());
    }
}
