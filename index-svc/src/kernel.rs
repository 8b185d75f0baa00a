//! Distance kernels. Sixteen independent accumulators over fixed 16-wide chunks let LLVM keep two
//! AVX2 registers busy (the crate builds for x86-64-v3); measured in `./strato bench index`.
const LANES: usize = 16;

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        s += d * d;
    }
    s
}

/// Squared L2 of 8-bit points, exact in i32 (|d| ≤ 254, so 32 lanes × 254² never overflow
/// for the widths we use).
#[inline]
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> i32 {
    const W: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; W];
    let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..W {
            let d = i32::from(x[i]) - i32::from(y[i]);
            acc[i] += d * d;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        let d = i32::from(*x) - i32::from(*y);
        s += d * d;
    }
    s
}

pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Unit-length copy (a zero vector stays zero).
pub fn normalized(a: &[f32]) -> Vec<f32> {
    let n = norm(a);
    if n > 0.0 { a.iter().map(|x| x / n).collect() } else { a.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_on_odd_lengths() {
        for n in [1, 15, 16, 17, 33, 384, 769] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let d: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            let l: f64 = a.iter().zip(&b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
            assert!((f64::from(dot(&a, &b)) - d).abs() < 1e-3, "dot {n}");
            assert!((f64::from(l2sq(&a, &b)) - l).abs() < 1e-3, "l2 {n}");
        }
    }
}
