//! Real-text embeddings for recall tests and benchmarks: Debian package synopses embedded by
//! embedder-svc with the packaged model, cached in the cache dir after the first run.
use std::path::PathBuf;

use strato_proto::embedder::v1::{EmbedRequest, embedder_client::EmbedderClient};

pub struct Embedded {
    pub texts: Vec<String>,
    pub vectors: Vec<Vec<f32>>,
}

pub const DIMS: usize = 384;

/// One cache for every size: the first k rows serve any request for k ≤ rows.
fn cache_file() -> PathBuf {
    crate::cache_dir().join("corpus/minilm-synopses.f32")
}

/// Distinct synopsis lines of the corpus, in file order.
pub fn synopses() -> anyhow::Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    Ok(crate::bench::corpus()?.into_iter().map(|d| d.synopsis).filter(|s| seen.insert(s.clone())).collect())
}

/// The first `n` distinct synopses and their embeddings (computed once through a real embedder).
pub async fn synopsis_embeddings(n: usize) -> anyhow::Result<Embedded> {
    let texts: Vec<String> = synopses()?.into_iter().take(n).collect();
    anyhow::ensure!(texts.len() == n, "corpus has only {} distinct synopses", texts.len());
    let path = cache_file();
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() >= n * DIMS * 4
    {
        let floats: Vec<f32> = bytes[..n * DIMS * 4].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        return Ok(Embedded { texts, vectors: floats.chunks_exact(DIMS).map(<[f32]>::to_vec).collect() });
    }
    let svc = crate::process::start_embedder(&[])?;
    let client = EmbedderClient::connect(svc.url()).await?;
    // Four requests of 100 in flight: the embedder batches across them.
    let mut vectors = Vec::with_capacity(n);
    let mut futs = Vec::new();
    for chunk in texts.chunks(100) {
        let mut c = client.clone();
        let req = EmbedRequest { model: crate::TEST_MODEL.into(), texts: chunk.to_vec(), pooling: 0, ..Default::default() };
        futs.push(tokio::spawn(async move { c.embed(req).await }));
        if futs.len() == 4 {
            for f in futs.drain(..) {
                vectors.extend(f.await??.into_inner().data.into_iter().map(|v| v.values));
            }
        }
    }
    for f in futs {
        vectors.extend(f.await??.into_inner().data.into_iter().map(|v| v.values));
    }
    let mut bytes = Vec::with_capacity(n * DIMS * 4);
    for v in &vectors {
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(Embedded { texts, vectors })
}

/// Exact top-k by cosine over `base` (unit vectors), as (index, similarity).
pub fn exact_top_k(base: &[(usize, &[f32])], q: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = base.iter().map(|(i, v)| (crate::dot(v, q), *i)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}
