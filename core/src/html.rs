//! Escaping text into HTML and decoding the few entities Matrix clients and our own converters
//! produce: one copy for the core and every bridge's formatter.

/// Escapes `& < > " '`, so text is safe in element content and in attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes `&lt; &gt; &quot; &#39; &nbsp; &amp;` (a non-breaking space becomes a plain one:
/// the result is plain text for a network). `&amp;` goes last, so `&amp;lt;` stays `&lt;`.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Text with the tags removed and the entities decoded: the fallback for HTML a converter
/// refuses to walk (too deep, too long, hostile).
pub fn strip_tags(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_unescape_round_trip() {
        let text = r#"<a href="x">Tom & Jerry's</a> &lt;"#;
        let escaped = escape(text);
        assert_eq!(
            escaped,
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt; &amp;lt;"
        );
        assert_eq!(unescape(&escaped), text);
        assert_eq!(unescape("a&nbsp;b"), "a b");
        assert_eq!(strip_tags("<b>x &amp; y</b> 1 > 0"), "x & y 1 > 0");
    }
}
