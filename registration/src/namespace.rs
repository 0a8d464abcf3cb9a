//! Namespace regexes: which user IDs and aliases the bridge claims.
//!
//! The regexes are anchored (`^…$`) because homeservers differ: Synapse uses Python's
//! `re.match` (anchored at the start only), Rust homeservers an unanchored search. Anchoring
//! both ends gives the same meaning everywhere, so `@_irc_bob:localhost.evil` is not ours.

use crate::RegistrationError;

/// `^@<localpart_regex>:<domain>$` with the domain escaped, e.g. `_irc_.*` and `localhost`
/// give `^@_irc_.*:localhost$`. Fails if the result is not a valid regex.
pub fn regex_for_localpart(
    localpart_regex: &str,
    domain: &str,
) -> Result<String, RegistrationError> {
    sigiled_regex('@', localpart_regex, domain)
}

/// `^#<localpart_regex>:<domain>$` for room aliases, like [`regex_for_localpart`].
pub fn alias_regex_for_localpart(
    localpart_regex: &str,
    domain: &str,
) -> Result<String, RegistrationError> {
    sigiled_regex('#', localpart_regex, domain)
}

fn sigiled_regex(
    sigil: char,
    localpart_regex: &str,
    domain: &str,
) -> Result<String, RegistrationError> {
    let regex = format!("^{sigil}{localpart_regex}:{}$", regex::escape(domain));
    compile(&regex)?;
    Ok(regex)
}

/// Compiles a namespace regex, naming it in the error.
pub(crate) fn compile(regex: &str) -> Result<regex::Regex, RegistrationError> {
    regex::Regex::new(regex).map_err(|source| RegistrationError::Regex {
        regex: regex.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(regex: &str, id: &str) -> bool {
        compile(regex).unwrap().is_match(id)
    }

    #[test]
    fn user_regex_matches_only_our_ghosts_on_our_domain() {
        let regex = regex_for_localpart("_irc_.*", "localhost").unwrap();
        assert_eq!(regex, "^@_irc_.*:localhost$");
        assert!(matches(&regex, "@_irc_bob:localhost"));
        assert!(!matches(&regex, "@alice:localhost"));
        assert!(!matches(&regex, "@_irc_bob:localhost.evil"));
        assert!(!matches(&regex, "@_irc_bob:evil.localhost"));
        assert!(!matches(&regex, "#_irc_bob:localhost"));
        assert!(!matches(&regex, "x@_irc_bob:localhost"));
    }

    #[test]
    fn domain_is_escaped() {
        let regex = regex_for_localpart("_wa_[0-9]+", "example.org:8448").unwrap();
        assert_eq!(regex, r"^@_wa_[0-9]+:example\.org:8448$");
        assert!(matches(&regex, "@_wa_123:example.org:8448"));
        assert!(!matches(&regex, "@_wa_123:exampleXorg:8448"));
        assert!(!matches(&regex, "@_wa_abc:example.org:8448"));
    }

    #[test]
    fn alias_regex_uses_the_hash_sigil() {
        let regex = alias_regex_for_localpart("_irc_.*", "localhost").unwrap();
        assert!(matches(&regex, "#_irc_#test:localhost"));
        assert!(!matches(&regex, "@_irc_bob:localhost"));
        assert!(!matches(&regex, "#other:localhost"));
    }

    #[test]
    fn a_broken_localpart_regex_is_an_error() {
        let err = regex_for_localpart("_irc_(", "localhost").unwrap_err();
        assert!(matches!(err, RegistrationError::Regex { .. }), "{err}");
    }
}
