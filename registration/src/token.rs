//! Random tokens for `as_token` and `hs_token`.

use rand::{Rng, distr::Alphanumeric};

/// Length of a generated token: 64 alphanumeric characters ≈ 381 bits of entropy.
pub const TOKEN_LEN: usize = 64;

/// A fresh random token from the thread-local CSPRNG, safe to put in a URL or a header.
pub fn generate_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_right_length_and_alphabet() {
        let token = generate_token();
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn tokens_differ() {
        let tokens: std::collections::HashSet<String> =
            (0..100).map(|_| generate_token()).collect();
        assert_eq!(tokens.len(), 100);
    }
}
