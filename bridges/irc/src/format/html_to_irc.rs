//! Matrix HTML → IRC text with control codes (may contain `\n`; the splitter makes lines).

use ruma::UserId;
use ruma::html::{Html, NodeData, NodeRef};

use super::colors::{Rgb, nearest_mirc};

/// Maps a pill's Matrix user to the nick IRC users know them by (`None`: use the pill text).
pub type PillResolver<'a> = &'a dyn Fn(&UserId) -> Option<String>;

/// Converts a Matrix `formatted_body` to IRC text.
///
/// Styles become control codes (re-applied after every newline, since IRC styles end with the
/// line), colours map to the nearest mIRC colour, links become `text (url)` when the text differs,
/// blocks, lists and quotes become lines, replies' `<mx-reply>` fallback is dropped and user pills
/// become `pill_nick(user)` or their text. Never panics; unknown tags contribute their text.
pub fn matrix_to_irc(html: &str, pill_nick: PillResolver<'_>) -> String {
    if nesting_estimate(html) > MAX_NESTING {
        // The HTML parser and its tree's drop recurse per level; absurd nesting gets plain text.
        return strip_tags(html);
    }
    let doc = Html::parse(html);
    let mut out = Out::default();
    let mut stack: Vec<Step> = doc.children().map(Step::Enter).collect();
    stack.reverse();
    while let Some(step) = stack.pop() {
        match step {
            Step::Enter(node) => enter(&mut out, &mut stack, node, pill_nick),
            Step::Exit(undo) => out.exit(undo),
        }
    }
    out.text
}

/// Nesting beyond which HTML is flattened to text instead of parsed (no real message nests so).
const MAX_NESTING: usize = 500;

/// An upper-bound-ish estimate of element nesting: opening tags minus closing tags, running max.
fn nesting_estimate(html: &str) -> usize {
    const VOID: [&str; 6] = ["br", "hr", "img", "meta", "link", "input"];
    let (mut depth, mut max) = (0usize, 0usize);
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if let Some(close) = tag.strip_prefix('/') {
            if close.starts_with(|c: char| c.is_ascii_alphabetic()) {
                depth = depth.saturating_sub(1);
            }
        } else if tag.starts_with(|c: char| c.is_ascii_alphabetic()) && !tag.ends_with('/') {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if !VOID.contains(&name.as_str()) {
                depth += 1;
                max = max.max(depth);
            }
        }
    }
    max
}

/// Tags removed, common entities decoded, whitespace collapsed: the fallback for hostile HTML.
fn strip_tags(html: &str) -> String {
    let decoded = ferrybridge_core::html::strip_tags(html);
    decoded
        .split_whitespace()
        .filter(|w| !w.chars().any(char::is_control))
        .collect::<Vec<_>>()
        .join(" ")
}

enum Step {
    Enter(NodeRef),
    Exit(Undo),
}

/// What an element changed on entry, to revert on exit.
#[derive(Default)]
struct Undo {
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    mono: bool,
    color: bool,
    prefix: bool,
    list: bool,
    pre: bool,
    block: bool,
    link: Option<String>,
}

fn enter(out: &mut Out, stack: &mut Vec<Step>, node: NodeRef, pill_nick: PillResolver<'_>) {
    let element = match node.data() {
        NodeData::Text(t) => {
            out.text_chunk(&t.borrow());
            return;
        }
        NodeData::Element(e) => e,
        NodeData::Document | NodeData::Other => return,
    };
    let name = (*element.name.local).to_ascii_lowercase();
    let attr = |key: &str| {
        element
            .attrs
            .borrow()
            .iter()
            .find(|a| (*a.name.local).eq_ignore_ascii_case(key))
            .map(|a| a.value.to_string())
    };
    let mut undo = Undo::default();
    match name.as_str() {
        "mx-reply" | "script" | "style" | "head" | "title" | "template" => return,
        "br" => {
            out.hard_break();
            return;
        }
        "hr" => {
            out.block_break();
            out.text_chunk("---");
            out.block_break();
            return;
        }
        "img" => {
            let alt = attr("alt").or_else(|| attr("title")).unwrap_or_default();
            out.text_chunk(if alt.trim().is_empty() {
                "[image]"
            } else {
                &alt
            });
            return;
        }
        "a" => {
            let href = attr("href").unwrap_or_default();
            if let Some(user) = pill_user(&href) {
                let nick = pill_nick(&user).unwrap_or_else(|| text_content(&node));
                out.text_chunk(&nick);
                return;
            }
            undo.link = Some(href);
            out.link_start = out.text.len();
        }
        "strong" | "b" => undo.bold = true,
        "em" | "i" => undo.italic = true,
        "u" | "ins" => undo.underline = true,
        "del" | "s" | "strike" => undo.strike = true,
        "code" | "tt" | "kbd" | "samp" => undo.mono = true,
        "pre" => {
            undo.mono = true;
            undo.pre = true;
            undo.block = true;
        }
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            undo.bold = true;
            undo.block = true;
        }
        "p" | "div" | "tr" | "table" | "thead" | "tbody" | "details" | "summary" | "section"
        | "article" | "header" | "footer" | "caption" | "dl" | "dt" | "dd" | "figure" => {
            undo.block = true
        }
        "blockquote" => {
            undo.block = true;
            undo.prefix = true;
            out.prefixes.push(Prefix::Quote);
        }
        "ul" | "ol" => {
            undo.block = true;
            undo.list = true;
            let start = attr("start").and_then(|s| s.trim().parse::<i64>().ok());
            let ordered = name == "ol";
            out.lists.push(ordered.then(|| start.unwrap_or(1)));
        }
        "li" => {
            undo.block = true;
            undo.prefix = true;
            let marker = match out.lists.last_mut() {
                Some(Some(n)) => {
                    let current = *n;
                    *n = n.saturating_add(1);
                    format!("{current}. ")
                }
                _ => "- ".to_owned(),
            };
            out.prefixes.push(Prefix::Item(Some(marker)));
        }
        "td" | "th" => out.text_chunk(" "),
        "font" | "span" => {
            let fg = attr("data-mx-color")
                .or_else(|| attr("color"))
                .and_then(|c| Rgb::from_css(&c));
            let bg = attr("data-mx-bg-color").and_then(|c| Rgb::from_css(&c));
            if attr("data-mx-spoiler").is_some() {
                out.colors.push((Some(1), Some(1)));
                undo.color = true;
            } else if fg.is_some() || bg.is_some() {
                out.colors
                    .push((fg.map(nearest_mirc), bg.map(nearest_mirc)));
                undo.color = true;
            }
        }
        _ => {}
    }
    if undo.block {
        out.block_break();
    }
    out.bold += u32::from(undo.bold);
    out.italic += u32::from(undo.italic);
    out.underline += u32::from(undo.underline);
    out.strike += u32::from(undo.strike);
    out.mono += u32::from(undo.mono);
    out.pre += u32::from(undo.pre);
    stack.push(Step::Exit(undo));
    let children: Vec<NodeRef> = node.children().collect();
    stack.extend(children.into_iter().rev().map(Step::Enter));
}

/// The concatenated text of a subtree (iterative: deep HTML must not overflow the stack).
fn text_content(node: &NodeRef) -> String {
    let mut text = String::new();
    let mut stack = vec![node.clone()];
    while let Some(n) = stack.pop() {
        if let Some(t) = n.as_text() {
            text.push_str(&t.borrow());
        }
        let children: Vec<NodeRef> = n.children().collect();
        stack.extend(children.into_iter().rev());
    }
    text
}

/// The user a pill link points at: `https://matrix.to/#/@user:server` or `matrix:u/user:server`.
pub fn pill_user(href: &str) -> Option<ruma::OwnedUserId> {
    let href = href.trim();
    let raw = if let Some(rest) = href.strip_prefix("https://matrix.to/#/") {
        rest.split('?').next()?.to_owned()
    } else if let Some(rest) = href.strip_prefix("matrix:u/") {
        format!("@{}", rest.split(['?', '/']).next()?)
    } else {
        return None;
    };
    let decoded = percent_decode(&raw);
    if !decoded.starts_with('@') {
        return None;
    }
    UserId::parse(decoded.as_str()).ok()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

enum Prefix {
    Quote,
    /// A list item; holds its marker until the item's first line is written.
    Item(Option<String>),
}

/// IRC style state as emitted on the current line.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Emitted {
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    mono: bool,
    color: Option<(u8, Option<u8>)>,
}

/// The output builder: collapses whitespace, places newlines and prefixes, and emits style codes
/// lazily right before the text they apply to.
#[derive(Default)]
struct Out {
    text: String,
    line_started: bool,
    pending_newline: bool,
    pending_space: bool,
    prefixes: Vec<Prefix>,
    lists: Vec<Option<i64>>,
    bold: u32,
    italic: u32,
    underline: u32,
    strike: u32,
    mono: u32,
    pre: u32,
    colors: Vec<(Option<u8>, Option<u8>)>,
    emitted: Emitted,
    space_style: Emitted,
    link_start: usize,
}

impl Out {
    fn desired(&self) -> Emitted {
        let fg = self.colors.iter().rev().find_map(|c| c.0);
        let bg = self.colors.iter().rev().find_map(|c| c.1);
        Emitted {
            bold: self.bold > 0,
            italic: self.italic > 0,
            underline: self.underline > 0,
            strike: self.strike > 0,
            mono: self.mono > 0,
            color: match (fg, bg) {
                (None, None) => None,
                (fg, bg) => Some((fg.unwrap_or(99), bg)),
            },
        }
    }

    fn block_break(&mut self) {
        if !self.text.is_empty() {
            self.pending_newline = true;
        }
        self.pending_space = false;
    }

    fn hard_break(&mut self) {
        self.flush_newline();
        self.text.push('\n');
        self.line_started = false;
        self.emitted = Emitted::default();
        self.pending_space = false;
    }

    fn flush_newline(&mut self) {
        if self.pending_newline {
            self.pending_newline = false;
            if self.line_started {
                self.text.push('\n');
                self.line_started = false;
                self.emitted = Emitted::default();
            }
        }
    }

    fn text_chunk(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_control() && !c.is_whitespace() {
                continue;
            }
            if self.pre > 0 {
                if c == '\n' {
                    self.hard_break();
                } else if c != '\r' {
                    self.push_char(c);
                }
            } else if c.is_whitespace() {
                if self.line_started && !self.pending_space {
                    self.pending_space = true;
                    self.space_style = self.desired();
                }
            } else {
                self.push_char(c);
            }
        }
    }

    fn push_char(&mut self, c: char) {
        self.flush_newline();
        if !self.line_started {
            self.line_started = true;
            self.pending_space = false;
            self.push_prefixes();
        } else if std::mem::take(&mut self.pending_space) {
            // The space takes the style in force where it was seen, not the next word's.
            self.sync_style(self.space_style);
            self.text.push(' ');
        }
        let color_written = self.sync_style(self.desired());
        if color_written && (c.is_ascii_digit() || c == ',') {
            // Keep the digit from being read as part of the colour code.
            self.text.push_str("\x02\x02");
        }
        self.text.push(c);
    }

    fn push_prefixes(&mut self) {
        let mut prefix = String::new();
        let last_item = self
            .prefixes
            .iter()
            .rposition(|p| matches!(p, Prefix::Item(_)));
        for (i, p) in self.prefixes.iter_mut().enumerate() {
            match p {
                Prefix::Quote => prefix.push_str("> "),
                Prefix::Item(marker) if Some(i) == last_item => match marker.take() {
                    Some(m) => prefix.push_str(&m),
                    None => prefix.push_str("  "),
                },
                Prefix::Item(_) => prefix.push_str("  "),
            }
        }
        self.text.push_str(&prefix);
    }

    /// Emits codes to move from the emitted style to the desired one; true if a colour code
    /// was written last.
    fn sync_style(&mut self, want: Emitted) -> bool {
        let have = self.emitted;
        if want == have {
            return false;
        }
        for (w, h, code) in [
            (want.bold, have.bold, '\x02'),
            (want.italic, have.italic, '\x1D'),
            (want.underline, have.underline, '\x1F'),
            (want.strike, have.strike, '\x1E'),
            (want.mono, have.mono, '\x11'),
        ] {
            if w != h {
                self.text.push(code);
            }
        }
        let mut color_written = false;
        if want.color != have.color {
            color_written = true;
            match want.color {
                None => self.text.push('\x03'),
                Some((fg, bg)) => {
                    if bg.is_none() && have.color.is_some_and(|(_, b)| b.is_some()) {
                        self.text.push('\x03');
                    }
                    self.text.push_str(&format!("\x03{fg:02}"));
                    if let Some(bg) = bg {
                        self.text.push_str(&format!(",{bg:02}"));
                    }
                }
            }
        }
        self.emitted = want;
        color_written
    }

    fn exit(&mut self, undo: Undo) {
        self.bold -= u32::from(undo.bold);
        self.italic -= u32::from(undo.italic);
        self.underline -= u32::from(undo.underline);
        self.strike -= u32::from(undo.strike);
        self.mono -= u32::from(undo.mono);
        self.pre -= u32::from(undo.pre);
        if undo.color {
            self.colors.pop();
        }
        if undo.prefix {
            self.prefixes.pop();
        }
        if undo.list {
            self.lists.pop();
        }
        if let Some(href) = undo.link {
            let shown = super::irc_to_html::strip_irc_formatting(
                self.text.get(self.link_start..).unwrap_or_default(),
            );
            if shown.trim().is_empty() {
                self.text_chunk(href.trim());
            } else if !href.trim().is_empty() && !same_link(shown.trim(), href.trim()) {
                self.text_chunk(" (");
                self.text_chunk(href.trim());
                self.text_chunk(")");
            }
        }
        if undo.block {
            self.block_break();
        }
    }
}

/// Whether a link's visible text already says where it goes.
fn same_link(text: &str, href: &str) -> bool {
    let bare = |s: &str| {
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .or_else(|| s.strip_prefix("mailto:"))
            .unwrap_or(s);
        s.trim_end_matches('/').to_owned()
    };
    text == href || bare(text) == bare(href)
}

#[cfg(test)]
mod tests;
