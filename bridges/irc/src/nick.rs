//! Nicks, idents and channel names: making valid ones from Matrix names, and comparing them the
//! way the server does (IRC names are case-insensitive under the server's CASEMAPPING).

use std::fmt;
use std::hash::{Hash, Hasher};

/// Nick length to assume until the server's ISUPPORT `NICKLEN` is known.
pub const DEFAULT_NICKLEN: usize = 30;
/// Longest ident (USER name) we send; servers commonly cut at 10.
pub const MAX_IDENT_LEN: usize = 10;
/// Longest channel name we accept (servers announce CHANNELLEN, commonly 32–64).
pub const MAX_CHANNEL_LEN: usize = 200;

/// Why no nick could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NickError {
    #[error("{0:?} has no characters an IRC nick can use")]
    Empty(String),
    #[error("the nick length limit must be at least 1")]
    ZeroLength,
}

/// Characters allowed anywhere in a nick besides ASCII letters (RFC 2812 `special`).
const SPECIAL: &[char] = &['[', ']', '\\', '`', '_', '^', '{', '|', '}'];

fn nick_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || SPECIAL.contains(&c) || (!first && (c.is_ascii_digit() || c == '-'))
}

/// Makes a valid nick from `desired`: accents transliterated (é → e), whitespace → `_`, other
/// disallowed characters dropped, `_` prefixed if it would start with a digit or `-`, then cut to
/// `max_len` bytes.
pub fn clean_nick(desired: &str, max_len: usize) -> Result<String, NickError> {
    if max_len == 0 {
        return Err(NickError::ZeroLength);
    }
    let mut nick = clean_fragment(desired);
    if nick.is_empty() {
        return Err(NickError::Empty(desired.to_owned()));
    }
    if nick.starts_with(|c: char| !nick_char(c, true)) {
        nick.insert(0, '_');
    }
    nick.truncate(max_len);
    Ok(nick)
}

/// The allowed characters of `s` (no first-character rule), transliterated where cheap.
fn clean_fragment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let kept = if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        } else if nick_char(c, false) {
            c.encode_utf8(&mut [0; 4]).to_owned()
        } else if let Some(t) = transliterate(c) {
            t.to_owned()
        } else {
            continue;
        };
        if std::mem::take(&mut space) {
            out.push('_');
        }
        out.push_str(&kept);
    }
    out
}

/// ASCII for common Latin accented letters; `None` for everything else (dropped).
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'ç' | 'ć' | 'č' => "c",
        'Ç' | 'Ć' | 'Č' => "C",
        'ď' | 'đ' | 'ð' => "d",
        'Ď' | 'Đ' | 'Ð' => "D",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ğ' => "g",
        'Ğ' => "G",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' | 'İ' => "I",
        'ł' | 'ľ' | 'ĺ' => "l",
        'Ł' | 'Ľ' | 'Ĺ' => "L",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ŕ' | 'ř' => "r",
        'Ŕ' | 'Ř' => "R",
        'ś' | 'š' | 'ş' => "s",
        'Ś' | 'Š' | 'Ş' => "S",
        'ť' | 'ţ' => "t",
        'Ť' | 'Ţ' => "T",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ß' => "ss",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        'þ' => "th",
        'Þ' => "TH",
        _ => return None,
    })
}

/// Nicks to try, in order, when `nick` is taken: `nick_`, then `nick1` … `nick999`, each cut
/// so it stays within `max_len`.
pub fn alternatives(nick: &str, max_len: usize) -> impl Iterator<Item = String> + '_ {
    std::iter::once("_".to_owned())
        .chain((1..=999u32).map(|n| n.to_string()))
        .filter_map(move |suffix| {
            let keep = max_len.checked_sub(suffix.len())?;
            let mut base = nick.to_owned();
            truncate_at_char(&mut base, keep);
            (!base.is_empty()).then(|| base + &suffix)
        })
}

fn truncate_at_char(s: &mut String, max: usize) {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
}

/// The values a nick template may use.
#[derive(Clone, Debug, Default)]
pub struct NickTemplateVars<'a> {
    pub displayname: &'a str,
    pub localpart: &'a str,
    pub mxid: &'a str,
}

/// Renders a nick template (`{displayname}`, `{localpart}`, `{mxid}`) into a valid nick of at
/// most `max_len`, shortening the display name rather than losing a suffix like `[m]`.
/// An unusable display name falls back to the localpart.
// Kept as one function so the core's template engine can replace the rendering later.
pub fn render_nick(
    template: &str,
    vars: &NickTemplateVars<'_>,
    max_len: usize,
) -> Result<String, NickError> {
    let mut displayname = clean_fragment(vars.displayname);
    if displayname.is_empty() {
        displayname = clean_fragment(vars.localpart);
    }
    let render = |dn: &str| {
        render_placeholders(
            template,
            &[
                ("displayname", dn),
                ("localpart", vars.localpart),
                ("mxid", vars.mxid),
            ],
        )
    };
    let full = clean_nick(&render(&displayname), usize::MAX)?;
    if full.len() > max_len && template.contains("{displayname}") {
        let excess = full.len() - max_len;
        let keep = displayname.len().saturating_sub(excess).max(1);
        truncate_at_char(&mut displayname, keep);
    }
    clean_nick(&render(&displayname), max_len)
}

/// Replaces `{name}` placeholders in one pass, so values containing braces are never expanded
/// again; unknown placeholders stay as written. Used for the nick, realname and ident templates
/// until the core's template engine takes over.
pub fn render_placeholders(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// An ident (the USER name) from a Matrix localpart: lowercase ASCII letters and digits, at most
/// [`MAX_IDENT_LEN`], `matrix` if nothing is left.
pub fn ident_from_localpart(localpart: &str) -> String {
    let ident: String = localpart
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(MAX_IDENT_LEN)
        .collect();
    if ident.is_empty() {
        "matrix".to_owned()
    } else {
        ident
    }
}

/// The server's case mapping (ISUPPORT `CASEMAPPING`), deciding which names are equal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CaseMapping {
    /// Only A–Z fold.
    Ascii,
    /// A–Z plus `[]\~` ≡ `{}|^` (the RFC 1459 default).
    #[default]
    Rfc1459,
    /// A–Z plus `[]\` ≡ `{}|`.
    StrictRfc1459,
}

impl CaseMapping {
    /// Reads an ISUPPORT value; unknown mappings (e.g. `rfc7613`) use RFC 1459, which folds the
    /// most ASCII characters, so we err towards treating names as equal.
    pub fn from_isupport(value: &str) -> Self {
        match value.to_ascii_lowercase().as_str() {
            "ascii" => Self::Ascii,
            "strict-rfc1459" => Self::StrictRfc1459,
            _ => Self::Rfc1459,
        }
    }
}

/// `s` folded to lowercase under `mapping`.
pub fn irc_lowercase(s: &str, mapping: CaseMapping) -> String {
    s.chars()
        .map(|c| match (c, mapping) {
            ('[', CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459) => '{',
            (']', CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459) => '}',
            ('\\', CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459) => '|',
            ('~', CaseMapping::Rfc1459) => '^',
            (c, _) => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A nick or channel that compares, hashes and orders by its folded form but shows as written.
#[derive(Clone, Debug)]
pub struct IrcName {
    name: String,
    folded: String,
}

impl IrcName {
    pub fn new(name: impl Into<String>, mapping: CaseMapping) -> Self {
        let name = name.into();
        let folded = irc_lowercase(&name, mapping);
        Self { name, folded }
    }
    /// As written.
    pub fn as_str(&self) -> &str {
        &self.name
    }
    /// The case-folded key (for maps and database lookups).
    pub fn folded(&self) -> &str {
        &self.folded
    }
}

impl PartialEq for IrcName {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}
impl Eq for IrcName {}
impl Hash for IrcName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}
impl PartialOrd for IrcName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for IrcName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.folded.cmp(&other.folded)
    }
}
impl fmt::Display for IrcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Why a channel name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelError {
    #[error("a channel name must start with one of {0:?}")]
    BadPrefix(String),
    #[error("a channel name needs more than its prefix")]
    Empty,
    #[error("a channel name cannot contain spaces, commas, colons or control characters")]
    ForbiddenChar,
    #[error("a channel name can be at most {MAX_CHANNEL_LEN} bytes")]
    TooLong,
}

/// A syntactically valid channel name, as written (compare via [`IrcName`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The case-insensitive form for comparisons.
    pub fn to_irc_name(&self, mapping: CaseMapping) -> IrcName {
        IrcName::new(self.0.clone(), mapping)
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a channel name with the usual `#`/`&` prefixes.
pub fn validate_channel(name: &str) -> Result<ChannelName, ChannelError> {
    validate_channel_with(name, "#&")
}

/// Checks a channel name against the server's CHANTYPES (e.g. `#&+!`).
pub fn validate_channel_with(name: &str, chantypes: &str) -> Result<ChannelName, ChannelError> {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if chantypes.contains(c) => {}
        _ => return Err(ChannelError::BadPrefix(chantypes.to_owned())),
    }
    if chars.as_str().is_empty() {
        return Err(ChannelError::Empty);
    }
    if name
        .chars()
        .any(|c| c == ' ' || c == ',' || c == ':' || c.is_control())
    {
        return Err(ChannelError::ForbiddenChar);
    }
    if name.len() > MAX_CHANNEL_LEN {
        return Err(ChannelError::TooLong);
    }
    Ok(ChannelName(name.to_owned()))
}

#[cfg(test)]
mod tests;
