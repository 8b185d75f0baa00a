//! A JSON array of numbers read straight into `f32`s, the values serde_json gives, faster.
//!
//! A query's vector is most of its body, and serde_json (built with `float_roundtrip`, so every
//! number is read exactly) spends its slow path on each of them: ~8 % of the gateway's CPU a
//! query (issue #27). Here each number is checked against JSON's grammar and read by the
//! standard library's exact parser: the same value serde_json reads (the nearest `f32`, as
//! serde_json reads an `f32`; an integer through `u64`/`i64` as serde_json hands it over).
//! Anything else — a
//! string, a nested array, a 20-digit integer, a number beyond `f32` — gives `None`, and the
//! caller lets serde_json read it and say what is wrong, so errors are worded as before.

/// The numbers of `text`, a JSON array of numbers and nothing else (JSON whitespace around).
pub fn f32_array(text: &[u8]) -> Option<Vec<f32>> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(text, i + 1);
    // A number takes at least two bytes with its comma; a vector has at most 1,536 of them.
    let mut out = Vec::with_capacity((text.len() / 2).min(2048));
    if text.get(i) != Some(&b']') {
        loop {
            let (x, next) = number(text, i)?;
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

/// One JSON number at `start`: its value and where it ends.
fn number(t: &[u8], start: usize) -> Option<(f32, usize)> {
    let negative = t.get(start) == Some(&b'-');
    let int_start = start + usize::from(negative);
    let int_end = match t.get(int_start)? {
        b'0' => int_start + 1,
        b'1'..=b'9' => digits(t, int_start + 1),
        _ => return None,
    };
    let mut end = int_end;
    if t.get(end) == Some(&b'.') {
        let after = digits(t, end + 1);
        if after == end + 1 {
            return None;
        }
        end = after;
    }
    if matches!(t.get(end), Some(b'e' | b'E')) {
        let sign = end + 1 + usize::from(matches!(t.get(end + 1), Some(b'+' | b'-')));
        let after = digits(t, sign);
        if after == sign {
            return None;
        }
        end = after;
    }
    if end > int_end {
        // serde_json reads an f32 straight to f32 (one rounding; through f64, a decimal near an
        // f32 midpoint would round twice). Longer texts are its: the standard library stops
        // counting an exponent's digits at 65,536.
        if end - start > MAX_DECIMAL_BYTES {
            return None;
        }
        // The bytes are ASCII digits, signs, '.', 'e': valid UTF-8.
        let x: f32 = std::str::from_utf8(&t[start..end]).ok()?.parse().ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(text: &str) -> Option<Vec<u32>> {
        serde_json::from_str::<Vec<f32>>(text).ok().map(|v| v.iter().map(|x| x.to_bits()).collect())
    }

    fn fast(text: &str) -> Option<Vec<u32>> {
        f32_array(text.as_bytes()).map(|v| v.iter().map(|x| x.to_bits()).collect())
    }

    #[test]
    fn reads_what_serde_reads_and_leaves_the_rest_to_it() {
        for ok in ["[]", " [ ] ", "[0]", "[-0]", "[-0.0]", "[1, -2, 3.5e2, 4E-3, 5e+1]", "[\n0.1,\t0.2\r]", "[9223372036854775808]", "[-9223372036854775808]",
            "[-9223372036854775809]", "[9999999999999999999]", "[16777217]", "[1e-400]", "[0.30000000000000004]", "[123456789012345678e-30]", "[3.4028235e38]"]
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

    proptest! {
        #[test]
        fn same_bits_as_serde(xs in proptest::collection::vec((any::<f64>(), 0usize..4, -60i32..60), 0..12)) {
            let text = format!("[{}]", xs.iter().map(|(x, form, e)| match form {
                0 => format!("{}", *x as f32),
                1 => format!("{x:e}"),
                2 => format!("{}e{e}", (x.fract() * 1e6).trunc()),
                _ => format!("{}", (x.fract() * 1e18).trunc()),
            }).filter(|s| !s.contains("inf") && !s.contains("NaN")).collect::<Vec<_>>().join(","));
            // Where the fast path reads, it reads serde_json's bits; where it gives up, serde_json reads.
            if let Some(f) = fast(&text) {
                prop_assert_eq!(Some(f), serde(&text), "{}", text);
            }
        }
    }
}
