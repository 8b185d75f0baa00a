//! A JSON array of numbers read straight into `f32`s, the values serde_json gives, faster.
//!
//! A query's vector is most of its body, and serde_json (built with `float_roundtrip`, so every
//! number is read exactly) spends its slow path on each of them: ~8 % of the gateway's CPU a
//! query (issue #27). Here each number is checked against JSON's grammar and read to the same
//! value serde_json reads (the nearest `f32`, as serde_json reads an `f32`; an integer through
//! `u64`/`i64` as serde_json hands it over): most by Clinger's fast path (a mantissa up to 2^53,
//! a power of ten up to 10^22: one correctly rounded f64 operation, then to f32, refused
//! where that could round twice), the rest by the standard library's exact parser. Anything
//! else — a string, a nested array, a 20-digit integer, a number beyond `f32` — gives `None`,
//! and the caller lets serde_json read it and say what is wrong, so errors are worded as before.

/// The numbers of `text`, a JSON array of numbers and nothing else (JSON whitespace around).
pub fn f32_array(s: &str) -> Option<Vec<f32>> {
    let text = s.as_bytes();
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(text, i + 1);
    // A number takes at least two bytes with its comma; a vector has at most 1,536 of them.
    let mut out = Vec::with_capacity((text.len() / 2).min(2048));
    if text.get(i) != Some(&b']') {
        loop {
            let (x, next) = number(s, i)?;
            out.push(x);
            i = skip_ws(text, next);
            match text.get(i) {
                Some(b',') => i = skip_ws(text, i + 1),
                Some(b']') => break,
                _ => return None,
            }
        }
    }
    (skip_ws(text, i + 1) == text.len()).then_some(out)
}

/// Longest decimal number read here (the longest shortest-form f64, with sign and exponent, is
/// 24 bytes; a vector's numbers are shorter).
const MAX_DECIMAL_BYTES: usize = 64;

fn skip_ws(t: &[u8], mut i: usize) -> usize {
    while matches!(t.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

fn digits(t: &[u8], mut i: usize) -> usize {
    while t.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// One JSON number at `start`: its value and where it ends. One pass checks the grammar and
/// gathers the significant digits for Clinger's fast path.
fn number(s: &str, start: usize) -> Option<(f32, usize)> {
    let t = s.as_bytes();
    let negative = t.get(start) == Some(&b'-');
    let int_start = start + usize::from(negative);
    let mut m = Mantissa::default();
    let int_end = match t.get(int_start)? {
        b'0' => int_start + 1,
        b'1'..=b'9' => m.read(t, int_start),
        _ => return None,
    };
    let mut end = int_end;
    let mut scale = 0i32;
    if t.get(end) == Some(&b'.') {
        let after = m.read(t, end + 1);
        if after == end + 1 {
            return None;
        }
        // At most MAX_DECIMAL_BYTES of them when the fast path is taken (checked below).
        scale = -((after - end - 1).min(1 << 20) as i32);
        end = after;
    }
    if matches!(t.get(end), Some(b'e' | b'E')) {
        let exponent_negative = t.get(end + 1) == Some(&b'-');
        let sign = end + 1 + usize::from(matches!(t.get(end + 1), Some(b'+' | b'-')));
        let after = digits(t, sign);
        if after == sign {
            return None;
        }
        // Every digit counts (`1e00005` is 1e5); saturated, as beyond ±22 the standard parser
        // reads the text anyway.
        let e = t[sign..after].iter().fold(0i32, |e, d| (e * 10 + i32::from(d - b'0')).min(1 << 20));
        scale += if exponent_negative { -e } else { e };
        end = after;
    }
    if end > int_end {
        // serde_json reads an f32 straight to f32 (one rounding; through f64, a decimal near an
        // f32 midpoint would round twice). Longer texts are its: the standard library stops
        // counting an exponent's digits at 65,536.
        if end - start > MAX_DECIMAL_BYTES {
            return None;
        }
        let x = match m.value().and_then(|m| clinger(m, scale)) {
            Some(x) if negative => -x,
            Some(x) => x,
            None => s.get(start..end)?.parse().ok()?,
        };
        // Beyond f32's range serde_json refuses the number: let it.
        return x.is_finite().then_some((x, end));
    }
    // An integer: serde_json reads up to 19 digits into a u64 (longer ones another way).
    let magnitude = &t[int_start..int_end];
    if magnitude.len() > 19 {
        return None;
    }
    let m = magnitude.iter().fold(0u64, |m, d| m * 10 + u64::from(d - b'0'));
    let v = if !negative {
        m as f32
    } else {
        // As serde_json: -0 and magnitudes beyond i64 become an f64.
        let n = (m as i64).wrapping_neg();
        if n >= 0 { -(m as f64) as f32 } else { n as f32 }
    };
    Some((v, end))
}

/// A number's digits as one integer, while it stays below 10^18 (leading zeros add nothing).
#[derive(Default)]
struct Mantissa {
    m: u64,
    overflow: bool,
}

impl Mantissa {
    /// Reads the digits from `i`, eight at a time where it can; returns where they end.
    fn read(&mut self, t: &[u8], mut i: usize) -> usize {
        while self.m < 10_000_000_000
            && let Some(eight) = eight_digits(t, i)
        {
            self.m = self.m * 100_000_000 + eight;
            i += 8;
        }
        while let Some(d) = t.get(i).filter(|c| c.is_ascii_digit()) {
            if self.m < 1_000_000_000_000_000_000 / 10 {
                self.m = self.m * 10 + u64::from(d - b'0');
            } else {
                self.overflow = true;
            }
            i += 1;
        }
        i
    }

    fn value(&self) -> Option<u64> {
        (!self.overflow).then_some(self.m)
    }
}

/// The eight bytes at `i` as a number, if they are all ASCII digits (the first the most
/// significant): the SWAR form, one multiply per step instead of one per digit.
fn eight_digits(t: &[u8], i: usize) -> Option<u64> {
    let v = u64::from_le_bytes(t.get(i..i + 8)?.try_into().ok()?);
    let high = 0xF0F0_F0F0_F0F0_F0F0;
    let all_digits = ((v & high) | ((v.wrapping_add(0x0606_0606_0606_0606) & high) >> 4)) == 0x3333_3333_3333_3333;
    if !all_digits {
        return None;
    }
    // Bytes 0–9; pairs (10·a + b in every other byte), then quads, then the eight.
    let v = v - 0x3030_3030_3030_3030;
    let v = v.wrapping_mul(10) + (v >> 8);
    let (mask, mul1, mul2) = (0x0000_00FF_0000_00FF, 100 + (1_000_000 << 32), 1 + (10_000 << 32));
    Some(((v & mask).wrapping_mul(mul1).wrapping_add(((v >> 16) & mask).wrapping_mul(mul2))) >> 32)
}

/// Powers of ten exact in an f64.
const POW10: [f64; 23] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/// The nearest f32 to m·10^scale when Clinger's fast path gives it: m ≤ 2^53 and |scale| ≤ 22
/// make it one correctly rounded f64 operation, y. Rounding y to f32 is then exact unless y sits
/// on an f32 midpoint (the true value and y are on the same side of every f32 midpoint, each
/// being an f64): those, and results outside f32's normal range, are left to the standard parser.
fn clinger(m: u64, scale: i32) -> Option<f32> {
    if m == 0 {
        return Some(0.0);
    }
    if m > 1 << 53 || !(-22..=22).contains(&scale) {
        return None;
    }
    let y = if scale >= 0 { m as f64 * POW10[scale as usize] } else { m as f64 / POW10[-scale as usize] };
    // f32's midpoints in its normal range: the 29 bits an f32 drops are exactly one half.
    let midpoint = y.to_bits() & 0x1FFF_FFFF == 0x1000_0000;
    let normal = (f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX)).contains(&y);
    (normal && !midpoint).then_some(y as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(text: &str) -> Option<Vec<u32>> {
        serde_json::from_str::<Vec<f32>>(text).ok().map(|v| v.iter().map(|x| x.to_bits()).collect())
    }

    fn fast(text: &str) -> Option<Vec<u32>> {
        f32_array(text).map(|v| v.iter().map(|x| x.to_bits()).collect())
    }

    #[test]
    fn reads_what_serde_reads_and_leaves_the_rest_to_it() {
        for ok in ["[]", " [ ] ", "[0]", "[-0]", "[-0.0]", "[1, -2, 3.5e2, 4E-3, 5e+1]", "[\n0.1,\t0.2\r]", "[9223372036854775808]", "[-9223372036854775808]",
            "[-9223372036854775809]", "[9999999999999999999]", "[16777217]", "[1e-400]", "[0.30000000000000004]", "[123456789012345678e-30]", "[3.4028235e38]",
            "[1e00005]", "[1e-0000000001]", "[2.5E+000010]", "[12.5e-00002]", "[0e000099]", "[1e0000000000000000000000000000000000000000000000000000038]"]
        {
            assert_eq!(fast(ok), serde(ok), "{ok}");
            assert!(fast(ok).is_some(), "{ok}");
        }
        // serde_json reads these (or refuses them) itself.
        for other in ["", "[", "[1,]", "[,1]", "[01]", "[1.]", "[.5]", "[+1]", "[1e]", "[NaN]", "[\"1\"]", "[[1]]", "[1] x", "{}", "[1e400]", "[3.4028236e38]", "[12345678901234567890]", "[-]", "[1 2]"] {
            assert_eq!(fast(other), None, "{other}");
        }
    }

    #[test]
    fn decimals_round_once_as_serde_does() {
        // Decimals on (or a hair from) an f32 rounding midpoint: through f64 they would round twice.
        for text in ["[1.0000000596046448]", "[16777217.0000000001]", "[1.0000001788139343]", "[7.0064923216240854e-46]"] {
            assert_eq!(fast(text), serde(text), "{text}");
        }
        let long_exponent = format!("[1{}e-6553600]", "0".repeat(65_540));
        assert_eq!(fast(&long_exponent), None, "left to serde_json");
        let mut x = 1e-40f32;
        while x < 1e30 {
            let mid = (f64::from(x) + f64::from(x.next_up())) / 2.0;
            let text = format!("[{mid:e}, {:e}, {:e}]", mid + mid * 1e-16, mid - mid * 1e-16);
            assert_eq!(fast(&text), serde(&text), "{text}");
            assert!(fast(&text).is_some(), "{text}");
            x *= 1.37;
        }
    }

    /// Clinger's answer for a decimal as `number` splits it, None where it leaves it to std.
    fn fast_only(text: &str) -> Option<f32> {
        let (mantissa, e) = text.split_once('e').map_or((text, 0), |(a, e)| (a, e.parse().unwrap()));
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut m = Mantissa::default();
        m.read(int.as_bytes(), 0);
        m.read(frac.as_bytes(), 0);
        clinger(m.value()?, e - frac.len() as i32)
    }

    #[test]
    fn shortest_f32_texts_take_the_fast_path() {
        // What serde_json and JavaScript print for a vector's values: at most 9 digits.
        let (mut x, mut fast_path) = (1e-37f32, 0);
        while x < 1e37 {
            for v in [x, x.next_up(), x * 0.999_999] {
                for text in [format!("{v}"), format!("{v:e}")] {
                    let got = fast_only(&text);
                    assert!(got.is_none_or(|g| g.to_bits() == text.parse::<f32>().unwrap().to_bits()), "{text}");
                    fast_path += usize::from(got.is_some());
                }
            }
            x *= 1.0173;
        }
        // Of ~59,600 texts, those with a power of ten within ±22 (30,590).
        assert!(fast_path > 25_000, "{fast_path}");
    }

    #[test]
    fn eight_digits_at_a_time() {
        for n in [0u64, 1, 9, 10, 12_345_678, 99_999_999, 10_000_000, 90_000_009] {
            assert_eq!(eight_digits(format!("{n:08}").as_bytes(), 0), Some(n));
        }
        for not in ["1234567", "1234567a", "/0000000", ":0000000", "1234.678", "-1234567"] {
            assert_eq!(eight_digits(not.as_bytes(), 0), None, "{not}");
        }
        // Bytes whose +6 carries into the next byte.
        assert_eq!(eight_digits(&[b'1', b'2', b'3', b'4', b'5', b'6', b'7', 0xFF], 0), None);
        assert_eq!(eight_digits(&[0xFA, b'2', b'3', b'4', b'5', b'6', b'7', b'8'], 0), None);
    }

    proptest! {
        #[test]
        fn same_bits_as_serde(xs in proptest::collection::vec((any::<f64>(), 0usize..7, -60i32..60, any::<u64>()), 0..12)) {
            let text = format!("[{}]", xs.iter().map(|(x, form, e, m)| match form {
                0 => format!("{}", *x as f32),
                1 => format!("{x:e}"),
                2 => format!("{}e{e}", (x.fract() * 1e6).trunc()),
                // Clinger's edges: up to 20 digits, 2^53 and beyond, powers of ten around 10^±22.
                3 => format!("{}e{}", m >> (m % 64), e / 2),
                4 => format!("0.{:019}", m % 10_000_000_000_000_000_000),
                // Exponents with leading zeros, as JSON allows.
                5 => format!("{}e{e:+06}", m % 1_000_000_000),
                _ => format!("{}", (x.fract() * 1e18).trunc()),
            }).filter(|s| !s.contains("inf") && !s.contains("NaN")).collect::<Vec<_>>().join(","));
            // Where the fast path reads, it reads serde_json's bits; where it gives up, serde_json reads.
            if let Some(f) = fast(&text) {
                prop_assert_eq!(Some(f), serde(&text), "{}", text);
            }
        }
    }
}
