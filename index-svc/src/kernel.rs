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

/// Squared L2 of 8-bit points: the graph's distance, the hottest loop of a search. Uses AVX-512
/// where the CPU has it (measured +10–15 % QPS on this host), the x86-64-v3 build otherwise.
#[inline]
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bw") {
        return avx512::l2sq_i8(a, b);
    }
    l2sq_i8_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;

    /// 32 values per step: sign-extend to i16, subtract (|d| ≤ 254 fits), and let `vpmaddwd`
    /// square and pair-sum into i32 — a quarter of the multiply work of widening to i32.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn l2sq_i8_wide(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let step = |acc: __m512i, i: usize| {
            // SAFETY: callers keep i + 32 ≤ n, so both 32-byte loads are in bounds.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i).cast::<__m256i>()),
                    _mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>()),
                )
            };
            let d = _mm512_sub_epi16(_mm512_cvtepi8_epi16(x), _mm512_cvtepi8_epi16(y));
            _mm512_add_epi32(acc, _mm512_madd_epi16(d, d))
        };
        let mut i = 0;
        while i + 64 <= n {
            acc0 = step(acc0, i);
            acc1 = step(acc1, i + 32);
            i += 64;
        }
        if i + 32 <= n {
            acc0 = step(acc0, i);
            i += 32;
        }
        let head = _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
        head + super::l2sq_i8_portable(&a[i..n], &b[i..n])
    }

    #[inline]
    pub fn l2sq_i8(a: &[i8], b: &[i8]) -> i32 {
        // SAFETY: only called after `is_x86_feature_detected!("avx512bw")` (which implies
        // avx512f) returned true on this CPU.
        unsafe { l2sq_i8_wide(a, b) }
    }
}

/// Exact in i32 (|d| ≤ 254, so 32 lanes × 254² never overflow for the widths we use).
#[inline(always)]
fn l2sq_i8_portable(a: &[i8], b: &[i8]) -> i32 {
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
    fn i8_kernel_matches_naive() {
        for n in [1, 31, 32, 33, 384, 1544] {
            let a: Vec<i8> = (0..n).map(|i| ((i * 37) % 255) as i32 as i8).collect();
            let b: Vec<i8> = (0..n).map(|i| ((i * 11 + 5) % 255) as i32 as i8).collect();
            let want: i32 = a.iter().zip(&b).map(|(x, y)| (i32::from(*x) - i32::from(*y)).pow(2)).sum();
            assert_eq!(l2sq_i8(&a, &b), want, "{n}");
        }
    }

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
