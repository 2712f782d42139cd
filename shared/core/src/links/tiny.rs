//! Confluence tiny links (`/x/{code}`, docs §7): the content id as 8 little-endian bytes in
//! base64 with Confluence's own character swap (`/` → `-`, `+` → `_`, the reverse of RFC 4648
//! url-safe), `=` padding removed and trailing `A`s (zero bits) stripped.

/// The 64 code characters by value: standard base64 with `+` → `_` and `/` → `-`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// 8 bytes are 64 bits: 11 characters of 6 bits, the last 2 bits zero.
const FULL_LEN: usize = 11;

/// The tiny code of content `id`, as Confluence prints it after `/x/`.
///
/// Id 0 (never a real id) encodes as `A` rather than the empty string, so every code is
/// non-empty and decodes back.
pub fn encode(id: u64) -> String {
    let bits = u128::from(id.swap_bytes()) << 2;
    let mut code: String = (0..FULL_LEN)
        .map(|i| {
            let value = (bits >> (6 * (FULL_LEN - 1 - i))) & 0x3f;
            char::from(ALPHABET[value as usize])
        })
        .collect();
    let kept = code.trim_end_matches('A').len().max(1);
    code.truncate(kept);
    code
}

/// The content id of a tiny code, or `None` when `code` is not one. One trailing `/` is
/// tolerated (Cloud has been seen printing `/x/mwD-/`).
pub fn decode(code: &str) -> Option<u64> {
    let code = code.strip_suffix('/').unwrap_or(code);
    if code.is_empty() || code.len() > FULL_LEN {
        return None;
    }
    let mut bits: u128 = 0;
    for byte in code.bytes().chain(std::iter::repeat(b'A')).take(FULL_LEN) {
        let value = ALPHABET.iter().position(|&c| c == byte)?;
        bits = (bits << 6) | value as u128;
    }
    // The last 2 bits are padding: a code with them set is not one Confluence makes, and
    // accepting it would give one id two codes.
    if bits & 0b11 != 0 {
        return None;
    }
    let big_endian = u64::try_from(bits >> 2).ok()?;
    Some(big_endian.swap_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real pairs from public API dumps (docs §7).
    const VERIFIED: &[(u64, &str)] = &[
        (137_986_525, "3YE5C"),
        (158_598_137, "_QN0CQ"),
        (283_246_728, "iADiE"),
        (304_005_789, "ncIeEg"),
        (227_171_453, "fVyKDQ"),
        (227_171_450, "elyKDQ"),
        (191_924_345, "eYhwCw"),
        (247_063_826, "EuW5Dg"),
        (1_041_694_742, "FgAXPg"),
        (33_363, "U4I"),
        (16_711_835, "mwD-/"),
    ];

    #[test]
    fn verified_pairs_decode() {
        for &(id, code) in VERIFIED {
            assert_eq!(decode(code), Some(id), "{code}");
        }
    }

    #[test]
    fn verified_pairs_encode() {
        for &(id, code) in VERIFIED {
            assert_eq!(encode(id), code.trim_end_matches('/'), "{id}");
        }
    }

    #[test]
    fn ids_past_32_bits_keep_their_high_bytes() {
        for id in [
            4_294_967_296,
            4_294_967_295 + 17,
            1 << 40,
            u64::MAX,
            u64::MAX - 1,
        ] {
            assert_eq!(decode(&encode(id)), Some(id), "{id}");
        }
        assert_eq!(encode(u64::MAX).len(), 11);
    }

    #[test]
    fn zero_and_padding() {
        assert_eq!(encode(0), "A");
        assert_eq!(decode("A"), Some(0));
        // Explicit trailing `A`s are the same id.
        assert_eq!(decode("3YE5CAAAAAA"), Some(137_986_525));
    }

    #[test]
    fn not_codes() {
        for code in [
            "",
            "/",
            "//",
            "3YE5C//",
            "abc=",
            "a+b",
            "a/b",
            "AAAAAAAAAAAA",
            "é",
            "3YE5C A",
        ] {
            assert_eq!(decode(code), None, "{code:?}");
        }
        // 11 characters whose last 2 bits are set: not canonical.
        assert_eq!(decode("AAAAAAAAAAB"), None);
        assert_eq!(decode("AAAAAAAAAAE"), Some(1 << 56));
    }
}
