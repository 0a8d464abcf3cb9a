//! XEP-0393 Message Styling ↔ Matrix HTML: XMPP has no rich text, only plain-text conventions
//! (`*strong*`, `_emphasis_`, `~strike~`, `` `pre` ``, ```` ``` ```` blocks, `> ` quotes) that
//! clients render; Matrix clients need them as `formatted_body`, and send HTML we flatten back.

use ruma::html::{Html, NodeData, NodeRef};

use ferrybridge_core::html::{escape, strip_tags};

/// Bodies longer than this are bridged plain (styling is quadratic in the worst case).
const MAX_STYLED_LEN: usize = 32 * 1024;

/// Styled text → HTML, or `None` when the text has no styling (a plain message).
pub fn to_html(text: &str) -> Option<String> {
    if text.len() > MAX_STYLED_LEN {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let html = blocks(&lines, 0);
    (html != escape(text).replace('\n', "<br>")).then_some(html)
}

/// Quote nesting beyond which quote markers stay text.
const MAX_QUOTE_DEPTH: usize = 16;

/// Renders lines as blocks: preformatted blocks, quotes and plain lines joined by `<br>`.
fn blocks(lines: &[&str], depth: usize) -> String {
    let mut out = String::new();
    // Whether the last thing written was a plain line (so the next plain line needs a <br>).
    let mut after_line = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("```") {
            // A block runs to a line that is exactly ``` or to the end of its parent.
            let end = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == "```");
            let body = &lines[i + 1..end.unwrap_or(lines.len())];
            out.push_str(&format!(
                "<pre><code>{}</code></pre>",
                escape(&body.join("\n"))
            ));
            i = end.map_or(lines.len(), |e| e + 1);
            after_line = false;
            continue;
        }
        if line.starts_with('>') && depth < MAX_QUOTE_DEPTH {
            let end = (i..lines.len())
                .find(|&j| !lines[j].starts_with('>'))
                .unwrap_or(lines.len());
            let inner: Vec<&str> = lines[i..end]
                .iter()
                .map(|l| {
                    let l = &l[1..];
                    l.strip_prefix(' ').unwrap_or(l)
                })
                .collect();
            out.push_str(&format!(
                "<blockquote>{}</blockquote>",
                blocks(&inner, depth + 1)
            ));
            i = end;
            after_line = false;
            continue;
        }
        if after_line {
            out.push_str("<br>");
        }
        let chars: Vec<char> = line.chars().collect();
        out.push_str(&spans(&chars, 0));
        after_line = true;
        i += 1;
    }
    out
}

/// Span nesting beyond which directives stay text.
const MAX_SPAN_DEPTH: usize = 8;

/// Renders one line's spans. A span opens at a directive at the line start, after whitespace or
/// after another opening directive, followed by non-whitespace; it closes at the first same
/// directive preceded by non-whitespace, with at least one character between.
fn spans(chars: &[char], depth: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let tag = match c {
            '*' => Some("strong"),
            '_' => Some("em"),
            '~' => Some("del"),
            '`' => Some("code"),
            _ => None,
        };
        if let Some(tag) = tag
            && depth < MAX_SPAN_DEPTH
        {
            let opens = (i == 0
                || chars[i - 1].is_whitespace()
                || matches!(chars[i - 1], '*' | '_' | '~' | '`'))
                && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
            if opens
                && let Some(j) =
                    (i + 2..chars.len()).find(|&j| chars[j] == c && !chars[j - 1].is_whitespace())
            {
                let inner = &chars[i + 1..j];
                let rendered = if c == '`' {
                    escape(&inner.iter().collect::<String>())
                } else {
                    spans(inner, depth + 1)
                };
                out.push_str(&format!("<{tag}>{rendered}</{tag}>"));
                i = j + 1;
                continue;
            }
        }
        out.push_str(&escape(c.encode_utf8(&mut [0; 4])));
        i += 1;
    }
    out
}

/// Nesting beyond which HTML is flattened to text instead of parsed (the parser recurses).
const MAX_NESTING: usize = 200;

/// Matrix HTML → styled plain text. Replies' `<mx-reply>` fallback is dropped, user pills become
/// their text, links `text (url)`, blocks become lines. Never panics; unknown tags keep their text.
pub fn from_html(html: &str) -> String {
    if nesting_estimate(html) > MAX_NESTING {
        return strip_tags(html);
    }
    let doc = Html::parse(html);
    let mut out = String::new();
    for node in doc.children() {
        walk(&node, &mut out, false);
    }
    out.trim_end().trim_start_matches(['\n', ' ']).to_owned()
}

/// Starts a new line in `out` unless already at one.
fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Renders `node`'s children to a fresh string.
fn children(node: &NodeRef, pre: bool) -> String {
    let mut out = String::new();
    for child in node.children() {
        walk(&child, &mut out, pre);
    }
    out
}

/// Wraps `inner` in `mark`, keeping surrounding whitespace outside (directives must touch text).
fn wrap(out: &mut String, inner: &str, mark: &str) {
    let trimmed = inner.trim();
    if trimmed.is_empty() || trimmed.contains('\n') {
        out.push_str(inner);
        return;
    }
    let lead = &inner[..inner.len() - inner.trim_start().len()];
    let trail = &inner[inner.trim_end().len()..];
    out.push_str(&format!("{lead}{mark}{trimmed}{mark}{trail}"));
}

fn walk(node: &NodeRef, out: &mut String, pre: bool) {
    let element = match node.data() {
        NodeData::Text(t) => {
            let text = t.borrow();
            if pre {
                out.push_str(&text);
            } else if !(text.trim().is_empty() && text.contains('\n')) {
                let flat = text.replace('\n', " ");
                if out.ends_with('\n') {
                    out.push_str(flat.trim_start());
                } else {
                    out.push_str(&flat);
                }
            }
            return;
        }
        NodeData::Element(e) => e,
        NodeData::Document | NodeData::Other => return,
    };
    let name = (*element.name.local).to_ascii_lowercase();
    let href = || {
        element
            .attrs
            .borrow()
            .iter()
            .find(|a| (*a.name.local).eq_ignore_ascii_case("href"))
            .map(|a| a.value.to_string())
    };
    match name.as_str() {
        "mx-reply" | "script" | "style" | "head" | "title" => {}
        "br" => out.push('\n'),
        "strong" | "b" => wrap(out, &children(node, pre), "*"),
        "em" | "i" => wrap(out, &children(node, pre), "_"),
        "del" | "s" | "strike" => wrap(out, &children(node, pre), "~"),
        "code" if !pre => wrap(out, &children(node, true), "`"),
        "pre" => {
            let body = children(node, true);
            newline(out);
            out.push_str("```\n");
            out.push_str(body.trim_end_matches('\n'));
            out.push_str("\n```\n");
        }
        "blockquote" => {
            let inner = children(node, pre);
            newline(out);
            for line in inner.trim_matches('\n').split('\n') {
                out.push('>');
                if !line.is_empty() && !line.starts_with('>') {
                    out.push(' ');
                }
                out.push_str(line);
                out.push('\n');
            }
        }
        "a" => {
            let text = children(node, pre);
            let href = href().unwrap_or_default();
            out.push_str(&text);
            let pill = href.starts_with("https://matrix.to/#/");
            if !pill && !href.is_empty() && text.trim() != href {
                out.push_str(&format!(" ({href})"));
            }
        }
        "li" => {
            newline(out);
            out.push_str("• ");
            out.push_str(children(node, pre).trim_matches('\n'));
            out.push('\n');
        }
        "p" | "div" | "ul" | "ol" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "tr" | "table"
        | "hr" => {
            newline(out);
            let inner = children(node, pre);
            if name.starts_with('h') && name.len() == 2 {
                wrap(out, &inner, "*");
            } else {
                out.push_str(&inner);
            }
            newline(out);
        }
        _ => {
            for child in node.children() {
                walk(&child, out, pre);
            }
        }
    }
}

/// An upper bound on element nesting: opening tags minus closing tags, running max.
fn nesting_estimate(html: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with('/') {
            depth = depth.saturating_sub(1);
        } else if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_html() {
        assert_eq!(
            to_html("*bold* _it_ ~gone~ `a*b*c`").as_deref(),
            Some("<strong>bold</strong> <em>it</em> <del>gone</del> <code>a*b*c</code>")
        );
        assert_eq!(
            to_html("*_both_*").as_deref(),
            Some("<strong><em>both</em></strong>")
        );
        assert_eq!(to_html("plain <text> & more"), None);
        assert_eq!(
            to_html("2*3*4"),
            None,
            "a directive opens only after whitespace"
        );
        assert_eq!(to_html("* not bold *"), None);
        assert_eq!(to_html("**"), None, "spans are never empty");
        assert_eq!(to_html("*a\nb*"), None, "spans do not cross lines");
        assert_eq!(
            to_html("<b> *x* </b>").as_deref(),
            Some("&lt;b&gt; <strong>x</strong> &lt;/b&gt;")
        );
        assert_eq!(
            to_html("*a* b\nc").as_deref(),
            Some("<strong>a</strong> b<br>c")
        );
    }

    #[test]
    fn blocks_become_html() {
        assert_eq!(
            to_html("see:\n```\nlet *x* = <1>;\n```\ndone").as_deref(),
            Some("see:<pre><code>let *x* = &lt;1&gt;;</code></pre>done")
        );
        assert_eq!(
            to_html("```\nunclosed").as_deref(),
            Some("<pre><code>unclosed</code></pre>")
        );
        assert_eq!(
            to_html("> quoted *x*\n> more\nreply").as_deref(),
            Some("<blockquote>quoted <strong>x</strong><br>more</blockquote>reply")
        );
        assert_eq!(
            to_html(">> deep").as_deref(),
            Some("<blockquote><blockquote>deep</blockquote></blockquote>")
        );
    }

    #[test]
    fn html_becomes_styling() {
        assert_eq!(
            from_html("<strong>bold</strong> <em>it</em> <del>gone</del> <code>x</code>"),
            "*bold* _it_ ~gone~ `x`"
        );
        assert_eq!(from_html("a<b> spaced </b>!"), "a *spaced* !");
        assert_eq!(from_html("a<br>b &amp; &lt;c&gt;"), "a\nb & <c>");
        assert_eq!(
            from_html("<mx-reply><blockquote>old</blockquote></mx-reply>new"),
            "new"
        );
        assert_eq!(
            from_html(
                "<a href=\"https://x.org\">site</a> <a href=\"https://y.org\">https://y.org</a>"
            ),
            "site (https://x.org) https://y.org"
        );
        assert_eq!(
            from_html("hi <a href=\"https://matrix.to/#/@bob:hs\">Bob</a>"),
            "hi Bob"
        );
        assert_eq!(from_html("<p>one</p>\n<p>two</p>"), "one\ntwo");
        assert_eq!(
            from_html("<pre><code>a *b*\n  c\n</code></pre>after"),
            "```\na *b*\n  c\n```\nafter"
        );
        assert_eq!(
            from_html("<blockquote><p>q1</p><p>q2</p></blockquote><p>answer</p>"),
            "> q1\n> q2\nanswer"
        );
        assert_eq!(from_html("<ul><li>a</li><li>b</li></ul>"), "• a\n• b");
        assert_eq!(from_html("unclosed <b"), "unclosed");
    }

    #[test]
    fn round_trip() {
        for text in [
            "*bold* and _it_",
            "~x~ `y`",
            "plain",
            "> quote\nreply",
            "```\ncode *x*\n```",
        ] {
            let html = to_html(text).unwrap_or_else(|| escape(text));
            assert_eq!(from_html(&html), text, "{html}");
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        use rand::{Rng, SeedableRng};
        const ALPHABET: &[&str] = &[
            "*",
            "_",
            "~",
            "`",
            "```",
            ">",
            "> ",
            "\n",
            " ",
            "a",
            "é",
            "😀",
            "<",
            "&",
            "<b>",
            "</b>",
            "<pre>",
            "</pre>",
            "<blockquote>",
            "</blockquote>",
            "<a href=\"x\">",
            "</a>",
            "<code>",
            "</code>",
            "<mx-reply>",
            "<br>",
            "<p>",
            "</p>",
            "<li>",
            "\"",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(393);
        for _ in 0..3000 {
            let len = rng.random_range(0..40);
            let text: String = (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            if let Some(html) = to_html(&text) {
                let _ = from_html(&html);
            }
            let _ = from_html(&text);
        }
        let deep = "<b>".repeat(5000);
        let _ = from_html(&deep);
        let quotes = ">".repeat(5000);
        let _ = to_html(&quotes);
    }
}
