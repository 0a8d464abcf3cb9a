//! WhatsApp's text markup (`*bold*`, `_italic_`, `~strike~`, ```` ```mono``` ````) to and from
//! Matrix HTML.

use ferrybridge_core::html::{escape, unescape};

/// WhatsApp markup → HTML, or `None` when the text has no markup (a plain message).
pub fn wa_to_html(text: &str) -> Option<String> {
    let html = render(text);
    (html != escape(text).replace('\n', "<br>")).then_some(html)
}

fn render(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // ```monospace``` block: no markup inside.
        if starts_with(&chars, i, "```")
            && let Some(end) = find(&chars, i + 3, "```")
        {
            let inner: String = chars[i + 3..end].iter().collect();
            out.push_str(&format!("<code>{}</code>", escape(&inner)));
            i = end + 3;
            continue;
        }
        let c = chars[i];
        let tag = match c {
            '*' => Some("strong"),
            '_' => Some("em"),
            '~' => Some("del"),
            _ => None,
        };
        // A marker opens at a word start and closes before a word end, on the same line.
        if let Some(tag) = tag {
            let opens = (i == 0 || !chars[i - 1].is_alphanumeric())
                && chars
                    .get(i + 1)
                    .is_some_and(|n| !n.is_whitespace() && *n != c);
            if opens {
                let close = (i + 2..chars.len()).find(|&j| {
                    chars[j] == c
                        && !chars[j - 1].is_whitespace()
                        && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
                });
                let same_line = close.is_some_and(|j| !chars[i..j].contains(&'\n'));
                if let (Some(j), true) = (close, same_line) {
                    let inner: String = chars[i + 1..j].iter().collect();
                    out.push_str(&format!("<{tag}>{}</{tag}>", render(&inner)));
                    i = j + 1;
                    continue;
                }
            }
        }
        match c {
            '\n' => out.push_str("<br>"),
            _ => out.push_str(&escape(&c.to_string())),
        }
        i += 1;
    }
    out
}

fn starts_with(chars: &[char], at: usize, pat: &str) -> bool {
    let pat: Vec<char> = pat.chars().collect();
    chars.len() >= at + pat.len() && chars[at..at + pat.len()] == pat[..]
}

fn find(chars: &[char], from: usize, pat: &str) -> Option<usize> {
    (from..chars.len()).find(|&j| starts_with(chars, j, pat))
}

/// Matrix HTML → WhatsApp markup. Unknown tags keep their text; links become `text (url)`.
pub fn html_to_wa(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut link: Vec<Option<String>> = Vec::new();
    while let Some(lt) = rest.find('<') {
        out.push_str(&unescape(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            out.push_str(&unescape(&rest[lt..]));
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match name.as_str() {
            "b" | "strong" => out.push('*'),
            "i" | "em" => out.push('_'),
            "s" | "del" | "strike" => out.push('~'),
            "code" => out.push_str("```"),
            "br" => out.push('\n'),
            "p" | "div" | "li" if closing => out.push('\n'),
            "mx-reply" if !closing => {
                // The reply fallback is not part of the message.
                match rest.find("</mx-reply>") {
                    Some(end) => rest = &rest[end + "</mx-reply>".len()..],
                    None => rest = "",
                }
            }
            "a" if !closing => link.push(attr(tag, "href")),
            "a" => {
                if let Some(Some(href)) = link.pop()
                    && !out.ends_with(&href)
                {
                    out.push_str(&format!(" ({href})"));
                }
            }
            _ => {}
        }
    }
    out.push_str(&unescape(rest));
    out.trim_end_matches('\n').to_owned()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_html() {
        assert_eq!(
            wa_to_html("*bold* _it_ ~gone~ ```a*b*c```").as_deref(),
            Some("<strong>bold</strong> <em>it</em> <del>gone</del> <code>a*b*c</code>")
        );
        assert_eq!(
            wa_to_html("*_both_*").as_deref(),
            Some("<strong><em>both</em></strong>")
        );
        assert_eq!(wa_to_html("plain <text>"), None);
        assert_eq!(wa_to_html("2*3*4 and snake_case_name"), None);
        assert_eq!(wa_to_html("* not bold *"), None);
        assert_eq!(wa_to_html("*a\nb*"), None, "markers do not span lines");
        assert_eq!(
            wa_to_html("<b>*x*</b>").as_deref(),
            Some("&lt;b&gt;<strong>x</strong>&lt;/b&gt;")
        );
    }

    #[test]
    fn html_becomes_markup() {
        assert_eq!(
            html_to_wa("<strong>bold</strong> <em>it</em> <del>gone</del> <code>x</code>"),
            "*bold* _it_ ~gone~ ```x```"
        );
        assert_eq!(html_to_wa("a<br>b &amp; &lt;c&gt;"), "a\nb & <c>");
        assert_eq!(
            html_to_wa("<mx-reply><blockquote>old</blockquote></mx-reply>new"),
            "new"
        );
        assert_eq!(
            html_to_wa("<a href=\"https://x.org\">site</a>"),
            "site (https://x.org)"
        );
        assert_eq!(html_to_wa("<p>one</p><p>two</p>"), "one\ntwo");
        assert_eq!(html_to_wa("unclosed <b"), "unclosed <b");
    }

    #[test]
    fn round_trip() {
        for text in ["*bold* and _it_", "~x~ ```y```", "plain"] {
            let html = wa_to_html(text).unwrap_or_else(|| escape(text));
            assert_eq!(html_to_wa(&html), text);
        }
    }
}
