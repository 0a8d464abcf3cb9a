//! Escaping of values for Matrix localparts, after the spec's "mapping from other character
//! sets" (appendices, user identifiers): `a-z 0-9 - . /` stay, an uppercase letter becomes `_`
//! and the lowercase letter, `_` becomes `__`, every other byte of the UTF-8 becomes `=xx`
//! (lowercase hex). So `alice@xmpp.example.com` → `alice=40xmpp.example.com`.
//!
//! The escaped text is a sequence of *tokens*: one kept character, `_` + `[a-z_]`, or
//! `=` + two lowercase hex digits. [`unescape_localpart`] is strict: it only accepts the one
//! canonical spelling [`escape_localpart`] produces (no `=61` for `a`, no uppercase hex), so
//! every value has exactly one localpart and every localpart at most one value.

/// Whether `c` stays as it is in an escaped localpart.
fn is_kept(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'/')
}

/// Escapes `value` for use inside a Matrix localpart (see the module docs).
pub fn escape_localpart(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if is_kept(b) {
            out.push(char::from(b));
        } else if b.is_ascii_uppercase() {
            out.push('_');
            out.push(char::from(b.to_ascii_lowercase()));
        } else if b == b'_' {
            out.push_str("__");
        } else {
            out.push_str(&format!("={b:02x}"));
        }
    }
    out
}

/// Reverses [`escape_localpart`]; `None` if `escaped` is not exactly what it would produce
/// for some string (unknown characters, bad or non-canonical `=xx`, dangling `_`, or bytes
/// that are not UTF-8).
pub fn unescape_localpart(escaped: &str) -> Option<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while pos < bytes.len() {
        let (byte, len) = decode_token(bytes, pos)?;
        out.push(byte);
        pos += len;
    }
    String::from_utf8(out).ok()
}

/// Decodes the token at `pos`: the byte it stands for and its length in `bytes`.
pub(super) fn decode_token(bytes: &[u8], pos: usize) -> Option<(u8, usize)> {
    let first = *bytes.get(pos)?;
    if is_kept(first) {
        return Some((first, 1));
    }
    match first {
        b'_' => match *bytes.get(pos + 1)? {
            b'_' => Some((b'_', 2)),
            c if c.is_ascii_lowercase() => Some((c.to_ascii_uppercase(), 2)),
            _ => None,
        },
        b'=' => {
            let hi = hex_digit(*bytes.get(pos + 1)?)?;
            let lo = hex_digit(*bytes.get(pos + 2)?)?;
            let byte = (hi << 4) | lo;
            // Canonical form only: these bytes have their own spelling.
            if is_kept(byte) || byte.is_ascii_uppercase() || byte == b'_' {
                return None;
            }
            Some((byte, 3))
        }
        _ => None,
    }
}

/// A lowercase hex digit's value.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn spec_examples() {
        assert_eq!(
            escape_localpart("alice@xmpp.example.com"),
            "alice=40xmpp.example.com"
        );
        assert_eq!(escape_localpart("Bob"), "_bob");
        assert_eq!(escape_localpart("a_b"), "a__b");
        assert_eq!(escape_localpart("a=b"), "a=3db");
        assert_eq!(escape_localpart("x-y./z09"), "x-y./z09");
        assert_eq!(escape_localpart("é"), "=c3=a9");
        assert_eq!(escape_localpart(""), "");
        assert_eq!(escape_localpart("a b"), "a=20b");
    }

    #[test]
    fn unescape_examples() {
        assert_eq!(
            unescape_localpart("alice=40xmpp.example.com").as_deref(),
            Some("alice@xmpp.example.com")
        );
        assert_eq!(unescape_localpart("_bob").as_deref(), Some("Bob"));
        assert_eq!(unescape_localpart("a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_localpart("=c3=a9").as_deref(), Some("é"));
        assert_eq!(unescape_localpart("").as_deref(), Some(""));
    }

    #[test]
    fn unescape_rejects_non_canonical_or_broken() {
        for bad in [
            "_", "a_", "_1", "_=", "=", "=4", "=4g", "=4A", "=61", "=5f", "=41", "A", "a+b", "a b",
            "=c3", // truncated UTF-8
            "=ff",
        ] {
            assert_eq!(unescape_localpart(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn random_round_trips() {
        let alphabet: Vec<char> = "aZz09_-./=@ +_é日😀\u{0}\n\t'\"\\{}".chars().collect();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let len = rng.random_range(0..12);
            let s: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let e = escape_localpart(&s);
            assert!(
                e.bytes().all(|b| is_kept(b) || b == b'_' || b == b'='),
                "{e:?}"
            );
            assert_eq!(unescape_localpart(&e).as_deref(), Some(s.as_str()), "{s:?}");
        }
    }
}
