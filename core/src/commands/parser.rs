//! Splits a message into a command name and arguments.
//!
//! Only the first line counts (the rest of a message may be a pasted log). Leading whitespace
//! is ignored, then the prefix is stripped (optional in the management room), then whitespace
//! after the prefix is skipped, so both `!help` and `!wa help` work. A prefix ending in a
//! letter or digit (`!wa`) must be followed by whitespace, so `!wait` is not `!wa it`.
//!
//! Arguments follow shell-like rules: whitespace separates; `"…"` groups words and `\`
//! escapes the next character inside it; `'…'` groups words with no escapes; outside quotes
//! `\` escapes the next character (a trailing `\` is kept). Quotes may sit inside a word
//! (`a"b c"` → `ab c`) and `""` is an empty argument. Commands taking free text (a message, a
//! topic) use [`ParsedCommand::raw_rest`] instead, where an apostrophe means nothing.

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCommand {
    /// Lowercased command name.
    pub name: String,
    /// Arguments, split with quoting.
    pub args: Vec<String>,
    /// The first line's text after the name and the whitespace following it, unparsed.
    pub raw_rest: String,
}

/// Why a command line cannot be split into arguments.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A `"` or `'` is never closed (often an apostrophe: `don't` needs `"don't"` or `don\'t`).
    #[error("unterminated quote: close it, or write a lone quote as \\' or \\\"")]
    UnterminatedQuote,
}

/// Parses the first line of `text`; `None` if it is not a command (no prefix where one is
/// required, or nothing after it).
pub fn parse_command(
    text: &str,
    prefix: &str,
    prefix_optional: bool,
) -> Option<Result<ParsedCommand, ParseError>> {
    let line = text.lines().next()?.trim_start();
    let rest = match line.strip_prefix(prefix) {
        Some(rest) if prefix.is_empty() => rest,
        Some(rest) => {
            let needs_space = prefix.chars().last().is_some_and(char::is_alphanumeric);
            if needs_space && !rest.starts_with(char::is_whitespace) {
                if !prefix_optional {
                    return None;
                }
                line
            } else {
                rest.trim_start()
            }
        }
        None if prefix_optional => line,
        None => return None,
    };
    let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (name, after) = rest.split_at(name_end);
    if name.is_empty() {
        return None;
    }
    let raw_rest = after.trim_start();
    Some(split_args(raw_rest).map(|args| ParsedCommand {
        name: name.to_lowercase(),
        args,
        raw_rest: raw_rest.to_owned(),
    }))
}

/// Splits `text` into arguments with the quoting rules in the module docs.
pub fn split_args(text: &str) -> Result<Vec<String>, ParseError> {
    let mut args = Vec::new();
    let mut current = String::new();
    // Whether `current` is an argument even if empty (it had quotes).
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                current.push(chars.next().unwrap_or('\\'));
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(ParseError::UnterminatedQuote),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => current.push(escaped),
                            None => return Err(ParseError::UnterminatedQuote),
                        },
                        Some(c) => current.push(c),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(ParseError::UnterminatedQuote),
                        Some('\'') => break,
                        Some(c) => current.push(c),
                    }
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        args.push(current);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn ok(text: &str, prefix: &str, optional: bool) -> (String, Vec<String>) {
        let parsed = parse_command(text, prefix, optional)
            .expect("a command")
            .expect("parses");
        (parsed.name, parsed.args)
    }

    fn cmd(name: &str, args: &[&str]) -> (String, Vec<String>) {
        (
            name.to_owned(),
            args.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn prefix_rules() {
        assert_eq!(ok("!help", "!", false), cmd("help", &[]));
        assert_eq!(ok("  \t!HELP", "!", false), cmd("help", &[]));
        assert_eq!(ok("!Help me", "!", false), cmd("help", &["me"]));
        assert_eq!(parse_command("help", "!", false), None);
        assert_eq!(ok("help", "!", true), cmd("help", &[]));
        assert_eq!(ok("!help", "!", true), cmd("help", &[]));
        assert_eq!(ok("! help", "!", false), cmd("help", &[]));
        assert_eq!(parse_command("!", "!", false), None);
        assert_eq!(parse_command("!", "!", true), None);
        assert_eq!(parse_command("!   ", "!", true), None);
        assert_eq!(parse_command("", "!", true), None);
        assert_eq!(parse_command("   \t ", "!", true), None);
        assert_eq!(parse_command("\n!help", "!", true), None);
        assert_eq!(parse_command("hello !help", "!", false), None);
    }

    #[test]
    fn long_prefixes() {
        assert_eq!(ok("!wa login qr", "!wa", false), cmd("login", &["qr"]));
        // The prefix is case-sensitive.
        assert_eq!(parse_command("!WA login", "!wa", false), None);
        assert_eq!(parse_command("!wait", "!wa", false), None);
        assert_eq!(ok("!wait", "!wa", true), cmd("!wait", &[]));
        assert_eq!(parse_command("!wa", "!wa", false), None);
        assert_eq!(ok("::help", "::", false), cmd("help", &[]));
        assert_eq!(ok("→→help x", "→→", false), cmd("help", &["x"]));
        assert_eq!(ok("help", "", false), cmd("help", &[]));
    }

    #[test]
    fn only_first_line() {
        assert_eq!(ok("!join #a\n#b c", "!", false), cmd("join", &["#a"]));
        assert_eq!(ok("!join #a\r\n#b", "!", false), cmd("join", &["#a"]));
        // An open quote does not continue on the next line.
        assert_eq!(
            parse_command("!say \"a\nb\"", "!", false),
            Some(Err(ParseError::UnterminatedQuote))
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(
            ok(r##"!join "#my channel" key"##, "!", false),
            cmd("join", &["#my channel", "key"])
        );
        assert_eq!(ok("!a 'x y' z", "!", false), cmd("a", &["x y", "z"]));
        assert_eq!(
            ok(r#"!a "x \"y\" \\ z""#, "!", false),
            cmd("a", &[r#"x "y" \ z"#])
        );
        assert_eq!(ok(r"!a 'x \ y'", "!", false), cmd("a", &[r"x \ y"]));
        assert_eq!(ok(r"!a x\ y \'z", "!", false), cmd("a", &["x y", "'z"]));
        assert_eq!(ok(r#"!a a"b c"d"#, "!", false), cmd("a", &["ab cd"]));
        assert_eq!(ok(r#"!a "" ''"#, "!", false), cmd("a", &["", ""]));
        assert_eq!(ok(r"!a x\", "!", false), cmd("a", &[r"x\"]));
        assert_eq!(ok(r#"!a "it's""#, "!", false), cmd("a", &["it's"]));
        assert_eq!(
            ok(r#"!a 'say "hi"'"#, "!", false),
            cmd("a", &[r#"say "hi""#])
        );
        assert_eq!(
            parse_command("!a \"x", "!", false),
            Some(Err(ParseError::UnterminatedQuote))
        );
        assert_eq!(
            parse_command("!a don't", "!", false),
            Some(Err(ParseError::UnterminatedQuote))
        );
        assert_eq!(
            parse_command(r#"!a "x\"#, "!", false),
            Some(Err(ParseError::UnterminatedQuote))
        );
    }

    #[test]
    fn whitespace_and_unicode() {
        assert_eq!(
            ok("!a  b\t\tc   d  ", "!", false),
            cmd("a", &["b", "c", "d"])
        );
        assert_eq!(ok("!a\tb", "!", false), cmd("a", &["b"]));
        assert_eq!(ok("!a\u{3000}b\u{a0}c", "!", false), cmd("a", &["b", "c"]));
        assert_eq!(
            ok("!ÉCHO Ünïcode 日本 😀", "!", false),
            cmd("écho", &["Ünïcode", "日本", "😀"])
        );
        assert_eq!(ok("!a \"日 本\"", "!", false), cmd("a", &["日 本"]));
    }

    #[test]
    fn raw_rest() {
        let p = parse_command("!cmd  PRIVMSG nick don't  panic ", "!", false)
            .unwrap()
            .unwrap_err();
        assert_eq!(p, ParseError::UnterminatedQuote);
        let p = parse_command("!cmd  PRIVMSG nick \"hi\"  there \nnext", "!", false)
            .unwrap()
            .unwrap();
        assert_eq!(p.raw_rest, "PRIVMSG nick \"hi\"  there ");
        assert_eq!(p.args, vec!["PRIVMSG", "nick", "hi", "there"]);
        let p = parse_command("!help", "!", false).unwrap().unwrap();
        assert_eq!(p.raw_rest, "");
        assert!(p.args.is_empty());
    }

    /// Random lines never panic; whatever parses has a non-empty, lowercase, space-free name.
    #[test]
    fn random_input_never_panics() {
        let alphabet: Vec<char> = "!a Z\t\n\"'\\é日😀\u{3000}\r#w".chars().collect();
        let prefixes = ["!", "", "!wa", "日", "\\"];
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..5000 {
            let len = rng.random_range(0..16);
            let s: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let prefix = prefixes[rng.random_range(0..prefixes.len())];
            for optional in [false, true] {
                if let Some(Ok(p)) = parse_command(&s, prefix, optional) {
                    assert!(!p.name.is_empty(), "{s:?}");
                    assert!(!p.name.contains(char::is_whitespace), "{s:?}");
                    assert_eq!(p.name, p.name.to_lowercase());
                    assert!(s.contains(p.raw_rest.as_str()));
                }
            }
        }
    }
}
