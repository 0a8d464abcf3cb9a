//! The one template engine for ghost user IDs, display names, room aliases and nicks.
//!
//! A template is literal text with `{var}` placeholders (`var` = `[a-z_][a-z0-9_]*`); `{{` and
//! `}}` write literal braces. The same [`Template`] renders three ways:
//! - [`Template::render`]: values as they are (IRC nicks; the network crate sanitises them);
//! - [`Template::render_plain`]: display names, with runs of control characters in values
//!   collapsed to one space;
//! - [`Template::render_localpart`]: user ID / alias localparts, each value escaped with
//!   [`escape_localpart`], and [`Template::parse_localpart`] maps such a localpart back.
//!
//! # Parsing localparts back
//! A localpart is matched left to right: literals must match exactly, and each variable takes
//! the **shortest** run of whole escape tokens (`a`, `_b`, `__`, `=40`, …) after which the rest
//! of the template still matches, and which decodes to valid UTF-8. Because a value is made of
//! whole tokens, a literal `_` can never be taken for half of an escape; what remains ambiguous
//! is *where* a literal goes when the values around it can absorb `_`s: with `{a}_{b}`, the
//! pairs (`x_`, `y`) and (`x`, `_y`) both render `x___y`, and the shortest rule reads back
//! (`x`, `_y`). So the round trip is exact unless a value before a literal ends with text the
//! literal could also start with (for `_irc_{server}_{nick}`: a server ending in `_`, which
//! host names never do; nicks may start or end with `_`). [`Template::render_localpart`] checks
//! the round trip and refuses ([`TemplateError::Ambiguous`]) rather than mint an ID that would
//! map back to someone else. Templates with two adjacent variables (`{a}{b}`) or a repeated
//! variable cannot be parsed back and are refused for localparts ([`Template::is_reversible`]).

mod known;
mod localpart;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

pub use known::KnownValues;
pub use localpart::{escape_localpart, unescape_localpart};

/// Why a template or a rendering is invalid. Messages fit in a `ConfigError`'s `problem`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{` at character {column} is never closed (write `{{{{` for a literal brace)")]
    UnclosedBrace { column: usize },
    #[error("`}}` at character {column} has no matching `{{` (write `}}}}` for a literal brace)")]
    UnmatchedClose { column: usize },
    #[error("empty placeholder `{{}}` at character {column}")]
    EmptyPlaceholder { column: usize },
    #[error(
        "invalid variable name `{name}` at character {column}: use lowercase letters, digits \
         and `_`, not starting with a digit"
    )]
    InvalidVariable { name: String, column: usize },
    #[error("unknown variable `{{{0}}}`")]
    UnknownVariable(String),
    #[error("no value given for `{{{0}}}`")]
    MissingVariable(String),
    #[error("empty value for `{{{0}}}`: every variable of a localpart must be non-empty")]
    EmptyValue(String),
    #[error(
        "variables `{{{first}}}` and `{{{second}}}` are next to each other: put literal text \
         between them so IDs can be parsed back"
    )]
    AdjacentVariables { first: String, second: String },
    #[error("variable `{{{0}}}` appears twice: a localpart template may use each variable once")]
    RepeatedVariable(String),
    #[error("the template has no variable, so every ID would be the same")]
    NoVariables,
    #[error(
        "`{0}` in the template text is not allowed in a Matrix localpart (use a-z 0-9 . _ = - / +)"
    )]
    InvalidLiteral(char),
    #[error("`{localpart}` would not parse back into the same values")]
    Ambiguous { localpart: String },
    #[error("`{value}` is not a known value of `{{{var}}}` (the namespace names only those)")]
    UnknownValue { var: String, value: String },
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Var(String),
}

/// A parsed template (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
    /// Variables the config limits to fixed values ([`Template::restricted`]).
    known: KnownValues,
}

impl Template {
    /// Parses `source`; errors name the offending character position (1-based).
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            let column = i + 1;
            match c {
                '{' if chars.next_if(|&(_, c)| c == '{').is_some() => literal.push('{'),
                '}' if chars.next_if(|&(_, c)| c == '}').is_some() => literal.push('}'),
                '}' => return Err(TemplateError::UnmatchedClose { column }),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            None => return Err(TemplateError::UnclosedBrace { column }),
                            Some((_, '}')) => break,
                            Some((_, c)) => name.push(c),
                        }
                    }
                    if name.is_empty() {
                        return Err(TemplateError::EmptyPlaceholder { column });
                    }
                    if !is_var_name(&name) {
                        return Err(TemplateError::InvalidVariable { name, column });
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Var(name));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template {
            source: source.to_owned(),
            segments,
            known: KnownValues::new(),
        })
    }

    /// This template with variables limited to `known` values: localparts are rendered and
    /// parsed back only with those values, and [`Template::namespace_regex`] names them
    /// literally, so the registration claims no more than the bridge can mint.
    pub fn restricted(mut self, known: KnownValues) -> Template {
        self.known = known;
        self
    }

    /// The text the template was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The distinct variables, in order of first appearance.
    pub fn variables(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for seg in &self.segments {
            if let Segment::Var(name) = seg
                && !seen.contains(&name.as_str())
            {
                seen.push(name.as_str());
            }
        }
        seen
    }

    /// Errors unless every variable is one of `allowed` (config validation: a typo such as
    /// `{nik}` is caught at startup, not at the first message).
    pub fn check_variables(&self, allowed: &[&str]) -> Result<(), TemplateError> {
        match self.variables().into_iter().find(|v| !allowed.contains(v)) {
            Some(v) => Err(TemplateError::UnknownVariable(v.to_owned())),
            None => Ok(()),
        }
    }

    /// Errors unless the template can be parsed back: at least one variable, no two variables
    /// next to each other, no variable twice.
    pub fn check_reversible(&self) -> Result<(), TemplateError> {
        let mut seen = HashSet::new();
        let mut previous_var: Option<&str> = None;
        for seg in &self.segments {
            match seg {
                Segment::Literal(_) => previous_var = None,
                Segment::Var(name) => {
                    if let Some(first) = previous_var {
                        return Err(TemplateError::AdjacentVariables {
                            first: first.to_owned(),
                            second: name.clone(),
                        });
                    }
                    if !seen.insert(name.as_str()) {
                        return Err(TemplateError::RepeatedVariable(name.clone()));
                    }
                    previous_var = Some(name);
                }
            }
        }
        if seen.is_empty() {
            return Err(TemplateError::NoVariables);
        }
        Ok(())
    }

    /// Whether [`Template::parse_localpart`] can work on this template.
    pub fn is_reversible(&self) -> bool {
        self.check_reversible().is_ok()
    }

    /// Everything a user ID or alias localpart template must satisfy: reversible, and literal
    /// text made only of characters allowed in a localpart (`a-z 0-9 . _ = - / +`).
    pub fn check_localpart(&self) -> Result<(), TemplateError> {
        self.check_reversible()?;
        for seg in &self.segments {
            if let Segment::Literal(text) = seg
                && let Some(c) = text.chars().find(|&c| !is_localpart_char(c))
            {
                return Err(TemplateError::InvalidLiteral(c));
            }
        }
        Ok(())
    }

    /// Renders with the values as they are; extra values are ignored.
    pub fn render(&self, vars: &[(&str, &str)]) -> Result<String, TemplateError> {
        self.render_with(vars, |v| v.to_owned())
    }

    /// Renders a display name: runs of control characters (newlines, tabs, …) in values become
    /// one space, so a remote name cannot break a line.
    pub fn render_plain(&self, vars: &[(&str, &str)]) -> Result<String, TemplateError> {
        self.render_with(vars, collapse_controls)
    }

    /// Renders a localpart: each value escaped with [`escape_localpart`], literals as written.
    /// Refuses templates that cannot be parsed back, empty values, and values that would not
    /// parse back to themselves (see the module docs).
    pub fn render_localpart(&self, vars: &[(&str, &str)]) -> Result<String, TemplateError> {
        self.check_reversible()?;
        for name in self.variables() {
            match lookup(vars, name) {
                Some("") => return Err(TemplateError::EmptyValue(name.to_owned())),
                Some(value) if !self.known.allows(name, value) => {
                    return Err(TemplateError::UnknownValue {
                        var: name.to_owned(),
                        value: value.to_owned(),
                    });
                }
                Some(_) => {}
                None => return Err(TemplateError::MissingVariable(name.to_owned())),
            }
        }
        let localpart = self.render_with(vars, escape_localpart)?;
        let round_trip = self.parse_localpart(&localpart);
        let same = round_trip.as_ref().is_some_and(|parsed| {
            parsed
                .iter()
                .all(|(name, value)| lookup(vars, name) == Some(value.as_str()))
        });
        if !same {
            return Err(TemplateError::Ambiguous { localpart });
        }
        Ok(localpart)
    }

    /// Maps a localpart back to its variables (in order of appearance), unescaped; `None` if
    /// it does not match the template, an escape is invalid, a restricted variable has another
    /// value, or the template is not reversible. See the module docs for the matching rule.
    pub fn parse_localpart(&self, localpart: &str) -> Option<Vec<(String, String)>> {
        if !self.is_reversible() {
            return None;
        }
        let mut matcher = Matcher {
            known: &self.known,
            input: localpart.as_bytes(),
            failed: HashSet::new(),
            values: Vec::new(),
        };
        if matcher.run(&self.segments, 0, 0) {
            Some(matcher.values)
        } else {
            None
        }
    }

    /// The localpart regex for the registration namespace: literals regex-escaped, a
    /// restricted variable its escaped values (`(?:libera|oftc)`), any other variable `.+`.
    /// Not anchored; see [`Template::user_namespace_regex`]. The syntax is common to Rust's
    /// `regex` and Python's `re` (Synapse).
    pub fn namespace_regex(&self) -> String {
        self.segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(text) => regex::escape(text),
                Segment::Var(name) => match self.known.get(name) {
                    None => ".+".to_owned(),
                    // A class of nothing: a variable with no allowed value matches nothing.
                    Some(values) if values.is_empty() => r"[^\s\S]".to_owned(),
                    Some(values) => {
                        let alternatives: Vec<String> = values
                            .iter()
                            .map(|v| regex::escape(&escape_localpart(v)))
                            .collect();
                        format!("(?:{})", alternatives.join("|"))
                    }
                },
            })
            .collect()
    }

    /// The registration regex for user IDs on `server_name`: `@<localpart>:<server>`.
    pub fn user_namespace_regex(&self, server_name: &str) -> String {
        format!("@{}:{}", self.namespace_regex(), regex::escape(server_name))
    }

    /// The registration regex for room aliases on `server_name`: `#<localpart>:<server>`.
    pub fn alias_namespace_regex(&self, server_name: &str) -> String {
        format!("#{}:{}", self.namespace_regex(), regex::escape(server_name))
    }

    fn render_with(
        &self,
        vars: &[(&str, &str)],
        convert: impl Fn(&str) -> String,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var(name) => {
                    let value = lookup(vars, name)
                        .ok_or_else(|| TemplateError::MissingVariable(name.clone()))?;
                    out.push_str(&convert(value));
                }
            }
        }
        Ok(out)
    }
}

impl FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Backtracking matcher of a localpart against a reversible template's segments; remembers
/// failed (segment, position) pairs, so it is polynomial in the localpart's length.
struct Matcher<'a> {
    known: &'a KnownValues,
    input: &'a [u8],
    failed: HashSet<(usize, usize)>,
    values: Vec<(String, String)>,
}

impl Matcher<'_> {
    /// Whether `segs` (starting at segment number `index`) match the input from `pos` to the end.
    fn run(&mut self, segs: &[Segment], index: usize, pos: usize) -> bool {
        let Some(seg) = segs.get(index) else {
            return pos == self.input.len();
        };
        if self.failed.contains(&(index, pos)) {
            return false;
        }
        let matched = match seg {
            Segment::Literal(text) => {
                self.input[pos..].starts_with(text.as_bytes())
                    && self.run(segs, index + 1, pos + text.len())
            }
            Segment::Var(name) => self.run_var(segs, index, name, pos),
        };
        if !matched {
            self.failed.insert((index, pos));
        }
        matched
    }

    /// Tries ever longer runs of whole escape tokens for the variable at `index`.
    fn run_var(&mut self, segs: &[Segment], index: usize, name: &str, pos: usize) -> bool {
        let mut end = pos;
        while let Some((_, len)) = localpart::decode_token(self.input, end) {
            end += len;
            let next_fits = match segs.get(index + 1) {
                Some(Segment::Literal(text)) => self.input[end..].starts_with(text.as_bytes()),
                Some(Segment::Var(_)) => true,
                None => end == self.input.len(),
            };
            if !next_fits {
                continue;
            }
            // Tokens are ASCII, so the slice is on char boundaries.
            let Some(value) = std::str::from_utf8(&self.input[pos..end])
                .ok()
                .and_then(unescape_localpart)
            else {
                continue;
            };
            if !self.known.allows(name, &value) {
                continue;
            }
            self.values.push((name.to_owned(), value));
            if self.run(segs, index + 1, end) {
                return true;
            }
            self.values.pop();
        }
        false
    }
}

fn lookup<'v>(vars: &[(&str, &'v str)], name: &str) -> Option<&'v str> {
    vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_localpart_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '=' | '-' | '/' | '+')
}

/// Replaces each run of control characters with one space.
fn collapse_controls(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_run = false;
    for c in value.chars() {
        if c.is_control() {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests;
