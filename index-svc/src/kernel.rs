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

/// Euclidean length, summed in f64: squares of f32 coordinates neither overflow (1e20² is past
/// f32) nor underflow (1e-30² is under it) there. Past f32's range, the largest f32.
pub fn norm(a: &[f32]) -> f32 {
    (norm64(a) as f32).min(f32::MAX)
}

fn norm64(a: &[f32]) -> f64 {
    a.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
}

/// Unit-length copy (a zero vector stays zero), whatever the magnitude: `x`, `1e-30·x` and
/// `1e20·x` give the same vector.
pub fn normalized(a: &[f32]) -> Vec<f32> {
    let n = norm64(a);
    if n > 0.0 && n.is_finite() { a.iter().map(|&x| (f64::from(x) / n) as f32).collect() } else { a.to_vec() }
}

/// `dot` again in f64 when the f32 sum is not finite (coordinates near f32's limits: 3e38·x +
/// −3e38·y is +inf + −inf = NaN in f32), clamped to f32's range: never NaN for finite inputs.
#[inline]
pub fn dot_finite(a: &[f32], b: &[f32]) -> f32 {
    let d = dot(a, b);
    if d.is_finite() { d } else { clamp(a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()) }
}

/// The euclidean distance, its square summed in f32 or, when that overflows or underflows, in
/// f64 (the root of a square past f32's range, either way, can still be inside it: 1e-30 apart
/// squares to 1e-60, which f32 holds as 0), clamped to f32's range.
#[inline]
pub fn l2_finite(a: &[f32], b: &[f32]) -> f32 {
    let d = l2sq(a, b);
    if d.is_finite() && d >= SQUARE_FLOOR { d.sqrt() } else { clamp(a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>().sqrt()) }
}

/// Below this, a sum of f32 squares has lost digits to underflow.
const SQUARE_FLOOR: f32 = 1e-30;

fn clamp(x: f64) -> f32 {
    (x as f32).clamp(f32::MIN, f32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_does_not_depend_on_magnitude() {
        let x = [3.0f32, -4.0, 0.5, 1e-3];
        let unit = normalized(&x);
        for scale in [1e-30f32, 1e20, 1e-38, 3e38 / 4.0] {
            let scaled: Vec<f32> = x.iter().map(|v| v * scale).collect();
            let got = normalized(&scaled);
            for (a, b) in unit.iter().zip(&got) {
                assert!((a - b).abs() <= 1e-6, "{scale}: {got:?} vs {unit:?}");
            }
        }
        assert_eq!(normalized(&[1e20, 0.0]), [1.0, 0.0], "used to overflow to zeros");
        assert_eq!(normalized(&[0.0, 0.0]), [0.0, 0.0]);
        assert_eq!(norm(&[3e38; 4]), f32::MAX, "6e38 is past f32");
    }

    #[test]
    fn distances_near_the_limits_are_never_nan() {
        let a = [3e38f32, -3e38, 0.0];
        assert!(dot(&a, &[2.0, 2.0, 0.0]).is_nan(), "the f32 kernel alone");
        assert_eq!(dot_finite(&a, &[2.0, 2.0, 0.0]), 0.0);
        assert_eq!(dot_finite(&a, &[2.0, -2.0, 0.0]), f32::MAX, "past f32: the largest");
        assert_eq!(l2_finite(&a, &[-3e38, 3e38, 0.0]), f32::MAX, "6e38·√2 is past f32");
        assert_eq!(l2_finite(&[3e38, 0.0], &[0.0, 0.0]), 3e38, "the square overflows, the distance does not");
        assert_eq!(l2_finite(&[1e-30, 0.0], &[0.0, 0.0]), 1e-30, "the square underflows, the distance does not");
        assert_eq!(dot_finite(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
    }

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
