//! Fitting outgoing text into IRC lines.
//!
//! A line is limited to 512 bytes *as the server relays it* (`:nick!user@host PRIVMSG #t :text`
//! plus CRLF), so the text budget depends on our full prefix; too long and the server truncates.
//! Long texts are split at whitespace (else at a character boundary, never inside a UTF-8
//! character or a colour code), styles carry over to continuation lines, and messages with more
//! lines than the configured limit are reported so the caller can send a link instead.

use crate::format::{parse_hex_color_len, parse_mirc_color_len};

/// The IRC line limit including the trailing CRLF.
pub const IRC_LINE_MAX: usize = 512;
/// Assumed host length when we do not know our own host (the longest DNS label the servers allow).
pub const UNKNOWN_HOST_LEN: usize = 63;
/// Assumed user (ident) length when unknown: a 10-char ident plus a possible `~`, plus slack.
pub const UNKNOWN_USER_LEN: usize = 12;
/// Budgets are never taken below this, so splitting always makes progress.
pub const MIN_BUDGET: usize = 8;

/// How the text is sent; CTCP ACTION wraps it in `\x01ACTION …\x01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    Privmsg,
    Notice,
    Action,
}

/// Bytes available for the text of one message from `nick!user@host` to `target`
/// (`None` for user/host: assume the longest plausible).
pub fn text_budget(
    nick: &str,
    user: Option<&str>,
    host: Option<&str>,
    target: &str,
    kind: LineKind,
) -> usize {
    let user_len = user.map_or(UNKNOWN_USER_LEN, str::len);
    let host_len = host.map_or(UNKNOWN_HOST_LEN, str::len);
    let command = match kind {
        LineKind::Notice => " NOTICE ",
        LineKind::Privmsg | LineKind::Action => " PRIVMSG ",
    };
    // ":" nick "!" user "@" host command target " :" ... CRLF
    let overhead = 1 + nick.len() + 1 + user_len + 1 + host_len + command.len() + target.len() + 2;
    let ctcp = if kind == LineKind::Action {
        "\x01ACTION ".len() + 1
    } else {
        0
    };
    IRC_LINE_MAX
        .saturating_sub(2 + overhead + ctcp)
        .max(MIN_BUDGET)
}

/// The outcome of splitting a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitResult {
    /// Send these lines, in order.
    Lines(Vec<String>),
    /// More lines than allowed: send `preview` (the first `line_limit` lines) and a link to
    /// `full` uploaded somewhere; `total_lines` says how many lines it would have taken.
    TooLong {
        preview: Vec<String>,
        full: String,
        total_lines: usize,
    },
}

/// Splits `text` into lines of at most `budget` bytes; `line_limit` 0 means unlimited.
pub fn split_message(text: &str, budget: usize, line_limit: usize) -> SplitResult {
    let lines = split_lines(text, budget);
    if line_limit > 0 && lines.len() > line_limit {
        let total_lines = lines.len();
        let mut preview = lines;
        preview.truncate(line_limit);
        SplitResult::TooLong {
            preview,
            full: text.to_owned(),
            total_lines,
        }
    } else {
        SplitResult::Lines(lines)
    }
}

/// Splits on newlines, then fits each line into `budget` bytes. Empty lines are dropped
/// (IRC cannot send them); `\r` and NUL are removed.
pub fn split_lines(text: &str, budget: usize) -> Vec<String> {
    let budget = budget.max(MIN_BUDGET);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let line: String = raw.chars().filter(|c| !matches!(c, '\r' | '\0')).collect();
        let mut rest = line.trim_end();
        let mut carry = String::new();
        while !rest.is_empty() {
            if carry.len() + rest.len() <= budget {
                push_line(&mut out, format!("{carry}{rest}"));
                break;
            }
            let room = budget - carry.len();
            let (chunk, next) = cut(rest, room);
            let chunk_line = format!("{carry}{chunk}");
            let state = StyleState::after(&chunk_line);
            push_line(&mut out, chunk_line);
            rest = next;
            carry = state.codes(budget, rest);
        }
    }
    out
}

fn push_line(out: &mut Vec<String>, line: String) {
    if line
        .chars()
        .any(|c| !c.is_whitespace() && !is_format_char(c))
    {
        out.push(line);
    }
}

fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\x02' | '\x03' | '\x04' | '\x0F' | '\x11' | '\x16' | '\x1D' | '\x1E' | '\x1F'
    )
}

/// Splits `s` (longer than `room`) into a chunk of at most `room` bytes and the rest.
fn cut(s: &str, room: usize) -> (&str, &str) {
    let hard = safe_cut(s, floor_char_boundary(s, room));
    let soft = s[..hard]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .filter(|&i| !s[..i].trim().is_empty());
    match soft {
        Some(i) => (s[..i].trim_end(), s[i..].trim_start()),
        None if hard == 0 => {
            // A lone character (or code) wider than the room: take one char to make progress.
            let one = s.chars().next().map_or(s.len(), char::len_utf8);
            (&s[..one], &s[one..])
        }
        None => (&s[..hard], &s[hard..]),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Moves `cut` back to the start of a colour code it would split (if that code is not at 0).
fn safe_cut(s: &str, cut: usize) -> usize {
    let b = s.as_bytes();
    let from = cut.saturating_sub(14);
    for j in (from..cut).rev() {
        let len = match b[j] {
            b'\x03' => parse_mirc_color_len(&s[j + 1..]),
            b'\x04' => parse_hex_color_len(&s[j + 1..]),
            _ => continue,
        };
        if j + 1 + len > cut && j > 0 {
            return j;
        }
        break;
    }
    cut
}

/// The styles in force at the end of a line, to restore on the continuation line.
#[derive(Default)]
struct StyleState {
    toggles: [bool; 5],
    fg: Option<u8>,
    bg: Option<u8>,
}

const TOGGLES: [char; 5] = ['\x02', '\x1D', '\x1F', '\x1E', '\x11'];

impl StyleState {
    fn after(line: &str) -> Self {
        let mut st = StyleState::default();
        let mut i = 0;
        while let Some(c) = line[i..].chars().next() {
            i += c.len_utf8();
            if let Some(t) = TOGGLES.iter().position(|&x| x == c) {
                st.toggles[t] = !st.toggles[t];
            } else if c == '\x0F' {
                st = StyleState::default();
            } else if c == '\x03' {
                let (fg, bg, used) = crate::format::parse_mirc_color_codes(&line[i..]);
                i += used;
                match fg {
                    None => (st.fg, st.bg) = (None, None),
                    Some(fg) => {
                        st.fg = Some(fg);
                        st.bg = bg.or(st.bg);
                    }
                }
            } else if c == '\x04' {
                i += parse_hex_color_len(&line[i..]);
            }
        }
        st
    }

    /// The codes that re-establish this state before `next`, if they leave room to progress.
    fn codes(&self, budget: usize, next: &str) -> String {
        let mut codes: String = TOGGLES
            .iter()
            .zip(self.toggles)
            .filter(|(_, on)| *on)
            .map(|(c, _)| *c)
            .collect();
        if let Some(fg) = self.fg {
            codes.push_str(&format!("\x03{fg:02}"));
            if let Some(bg) = self.bg {
                codes.push_str(&format!(",{bg:02}"));
            }
            if next.starts_with(',') {
                codes.push_str("\x02\x02");
            }
        }
        if codes.len() + 4 > budget / 2 {
            return String::new();
        }
        codes
    }
}

#[cfg(test)]
mod tests;
