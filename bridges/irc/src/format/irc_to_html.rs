//! IRC control codes → Matrix `org.matrix.custom.html` plus a plain body.

use super::colors::{Rgb, mirc_color};

/// A message converted from IRC: the plain body (codes stripped) and HTML when it had styling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatted {
    /// Text with every control code removed; always present.
    pub body: String,
    /// HTML, only when some visible formatting was present (so plain messages stay plain).
    pub html: Option<String>,
}

/// The style in force for a run of text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Style {
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    mono: bool,
    fg: Option<Rgb>,
    bg: Option<Rgb>,
}

impl Style {
    fn is_plain(&self) -> bool {
        *self == Style::default()
    }
}

/// Converts one IRC message text to a plain body and (if formatted) Matrix HTML.
///
/// Handles bold `\x02`, italic `\x1D`, underline `\x1F`, strikethrough `\x1E`, monospace `\x11`,
/// mIRC colours `\x03fg[,bg]`, hex colours `\x04RRGGBB[,RRGGBB]`, reverse `\x16` (ignored) and
/// reset `\x0F`. Other C0 controls are dropped. URLs are left as text (clients linkify them).
pub fn irc_to_matrix(text: &str) -> Formatted {
    let runs = parse_runs(text);
    let body: String = runs.iter().map(|(_, t)| t.as_str()).collect();
    let formatted = runs.iter().any(|(s, t)| !s.is_plain() && !t.is_empty());
    let html = formatted.then(|| {
        let mut html = String::with_capacity(body.len() * 2);
        for (style, text) in &runs {
            if !text.is_empty() {
                push_run_html(&mut html, style, text);
            }
        }
        html
    });
    Formatted { body, html }
}

/// Removes all IRC formatting codes, keeping the text.
pub fn strip_irc_formatting(text: &str) -> String {
    irc_to_matrix(text).body
}

/// Splits the text into runs of equal style (adjacent equal runs merged).
fn parse_runs(text: &str) -> Vec<(Style, String)> {
    let mut runs: Vec<(Style, String)> = Vec::new();
    let mut style = Style::default();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\x02' => style.bold = !style.bold,
            '\x1D' => style.italic = !style.italic,
            '\x1F' => style.underline = !style.underline,
            '\x1E' => style.strike = !style.strike,
            '\x11' => style.mono = !style.mono,
            '\x16' => {}
            '\x0F' => style = Style::default(),
            '\x03' => {
                let (fg, bg, used) = parse_mirc_color(&text[i + 1..]);
                skip_bytes(&mut chars, i + 1 + used);
                match fg {
                    None => {
                        style.fg = None;
                        style.bg = None;
                    }
                    Some(fg) => {
                        style.fg = mirc_color(fg);
                        if let Some(bg) = bg {
                            style.bg = mirc_color(bg);
                        }
                    }
                }
            }
            '\x04' => {
                let (fg, bg, used) = parse_hex_color(&text[i + 1..]);
                skip_bytes(&mut chars, i + 1 + used);
                match fg {
                    None => {
                        style.fg = None;
                        style.bg = None;
                    }
                    Some(fg) => {
                        style.fg = Some(fg);
                        if bg.is_some() {
                            style.bg = bg;
                        }
                    }
                }
            }
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => match runs.last_mut() {
                Some((s, t)) if *s == style => t.push(c),
                _ => runs.push((style, c.to_string())),
            },
        }
    }
    runs
}

/// Advances `chars` until its next index is at least `until`.
fn skip_bytes(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, until: usize) {
    while chars.peek().is_some_and(|(j, _)| *j < until) {
        chars.next();
    }
}

/// Parses the digits after `\x03`: returns (fg, bg, bytes consumed).
pub(crate) fn parse_mirc_color(s: &str) -> (Option<u8>, Option<u8>, usize) {
    let b = s.as_bytes();
    let digits = |from: usize| -> usize {
        b[from.min(b.len())..]
            .iter()
            .take(2)
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let n = digits(0);
    if n == 0 {
        return (None, None, 0);
    }
    let fg = s[..n].parse::<u8>().ok();
    if b.get(n) == Some(&b',') {
        let m = digits(n + 1);
        if m > 0 {
            let bg = s[n + 1..n + 1 + m].parse::<u8>().ok();
            return (fg, bg, n + 1 + m);
        }
    }
    (fg, None, n)
}

/// Parses the hex digits after `\x04`: returns (fg, bg, bytes consumed).
pub(crate) fn parse_hex_color(s: &str) -> (Option<Rgb>, Option<Rgb>, usize) {
    let Some(fg) = s.get(..6).and_then(Rgb::from_hex) else {
        return (None, None, 0);
    };
    if s.as_bytes().get(6) == Some(&b',')
        && let Some(bg) = s.get(7..13).and_then(Rgb::from_hex)
    {
        return (Some(fg), Some(bg), 13);
    }
    (Some(fg), None, 6)
}

fn push_run_html(out: &mut String, style: &Style, text: &str) {
    let mut closers: Vec<&str> = Vec::new();
    if style.fg.is_some() || style.bg.is_some() {
        out.push_str("<font");
        if let Some(fg) = style.fg {
            out.push_str(&format!(" data-mx-color=\"{fg}\""));
        }
        if let Some(bg) = style.bg {
            out.push_str(&format!(" data-mx-bg-color=\"{bg}\""));
        }
        out.push('>');
        closers.push("</font>");
    }
    for (on, open, close) in [
        (style.bold, "<strong>", "</strong>"),
        (style.italic, "<em>", "</em>"),
        (style.underline, "<u>", "</u>"),
        (style.strike, "<del>", "</del>"),
        (style.mono, "<code>", "</code>"),
    ] {
        if on {
            out.push_str(open);
            closers.push(close);
        }
    }
    escape_html_into(out, text);
    for c in closers.iter().rev() {
        out.push_str(c);
    }
}

/// Escapes `& < > " '` so text is safe inside HTML content and attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html_into(&mut out, text);
    out
}

fn escape_html_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(s: &str) -> Option<String> {
        irc_to_matrix(s).html
    }

    #[test]
    fn plain_text_has_no_html() {
        let f = irc_to_matrix("hello <world> & https://x.y/?a=1&b=2");
        assert_eq!(f.body, "hello <world> & https://x.y/?a=1&b=2");
        assert_eq!(f.html, None);
    }

    #[test]
    fn simple_styles() {
        assert_eq!(
            html("a \x02bold\x02 b").as_deref(),
            Some("a <strong>bold</strong> b")
        );
        assert_eq!(html("\x1Dit").as_deref(), Some("<em>it</em>"));
        assert_eq!(html("\x1Fu\x1F").as_deref(), Some("<u>u</u>"));
        assert_eq!(html("\x1Es").as_deref(), Some("<del>s</del>"));
        assert_eq!(html("\x11m\x11").as_deref(), Some("<code>m</code>"));
        assert_eq!(irc_to_matrix("a \x02bold\x02 b").body, "a bold b");
    }

    #[test]
    fn combined_and_reset() {
        assert_eq!(
            html("\x02\x1Dboth\x0F plain").as_deref(),
            Some("<strong><em>both</em></strong> plain")
        );
    }

    #[test]
    fn escapes_html_in_formatted_text() {
        assert_eq!(
            html("\x02<b>&\"'").as_deref(),
            Some("<strong>&lt;b&gt;&amp;&quot;&#39;</strong>")
        );
    }

    #[test]
    fn mirc_colours() {
        assert_eq!(
            html("\x0304red\x03 plain").as_deref(),
            Some("<font data-mx-color=\"#ff0000\">red</font> plain")
        );
        assert_eq!(
            html("\x034,12x").as_deref(),
            Some("<font data-mx-color=\"#ff0000\" data-mx-bg-color=\"#0000fc\">x</font>")
        );
        // Only two digits are taken: "\x03045" is colour 04 then "5".
        let f = irc_to_matrix("\x03045");
        assert_eq!(f.body, "5");
        // A comma without digits is text.
        let f = irc_to_matrix("\x034,x");
        assert_eq!(f.body, ",x");
        // 99 is "default": no colour, so no html.
        assert_eq!(html("\x0399,99plain"), None);
        // Bare \x03 with nothing after.
        assert_eq!(irc_to_matrix("a\x03").body, "a");
    }

    #[test]
    fn hex_colours() {
        assert_eq!(
            html("\x04FF8800o").as_deref(),
            Some("<font data-mx-color=\"#ff8800\">o</font>")
        );
        assert_eq!(irc_to_matrix("\x04zz").body, "zz");
    }

    #[test]
    fn reverse_and_other_controls_are_dropped() {
        let f = irc_to_matrix("a\x16b\x07c\x01");
        assert_eq!(f.body, "abc");
        assert_eq!(f.html, None);
    }

    #[test]
    fn formatting_without_text_gives_no_html() {
        assert_eq!(html("\x02\x02abc\x02"), None);
    }

    #[test]
    fn multibyte_after_colour_code() {
        let f = irc_to_matrix("\x03é\x034,ü");
        assert_eq!(f.body, "é,ü");
    }
}
