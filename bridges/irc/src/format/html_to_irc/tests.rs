use super::*;

fn conv(html: &str) -> String {
    matrix_to_irc(html, &|_| None)
}

#[test]
fn plain_text_and_entities() {
    assert_eq!(conv("hello world"), "hello world");
    assert_eq!(
        conv("a &amp; b &lt;c&gt; &quot;d&quot; &#x1F600;"),
        "a & b <c> \"d\" 😀"
    );
    assert_eq!(conv("  spaced \n  out  "), "spaced out");
}

#[test]
fn inline_styles() {
    assert_eq!(conv("<strong>b</strong> <b>b</b>"), "\x02b\x02 \x02b");
    assert_eq!(conv("x <em>i</em> y"), "x \x1Di\x1D y");
    assert_eq!(conv("<u>u</u>"), "\x1Fu");
    assert_eq!(conv("<del>d</del><s>s</s>"), "\x1Eds");
    assert_eq!(conv("<code>c</code> t"), "\x11c\x11 t");
    // Nested same style does not toggle off.
    assert_eq!(conv("<b>a<strong>b</strong>c</b>d"), "\x02abc\x02d");
}

#[test]
fn colours_map_to_nearest_mirc() {
    assert_eq!(
        conv("<font data-mx-color=\"#ff0000\">red</font> x"),
        "\x0304red\x03 x"
    );
    assert_eq!(
        conv("<span data-mx-color=\"#fe0101\" data-mx-bg-color=\"#000000\">x</span>"),
        "\x0304,01x"
    );
    assert_eq!(conv("<font color=\"blue\">b</font>"), "\x0312b");
    // A digit right after a colour code is guarded.
    assert_eq!(
        conv("<font color=\"#ff0000\">1</font>2"),
        "\x0304\x02\x021\x03\x02\x022"
    );
    assert_eq!(conv("<font color=\"nonsense\">x</font>"), "x");
}

#[test]
fn links() {
    assert_eq!(
        conv("<a href=\"https://example.org/a\">site</a>"),
        "site (https://example.org/a)"
    );
    assert_eq!(
        conv("<a href=\"https://example.org/\">https://example.org/</a>"),
        "https://example.org/"
    );
    assert_eq!(
        conv("<a href=\"https://example.org/\">example.org</a>"),
        "example.org"
    );
    assert_eq!(conv("<a href=\"https://e.org/\"></a>"), "https://e.org/");
}

#[test]
fn pills_use_resolver_or_text() {
    let html = "hi <a href=\"https://matrix.to/#/@alice:example.org\">Alice</a>: yo";
    assert_eq!(conv(html), "hi Alice: yo");
    let nick = |u: &UserId| (u.localpart() == "alice").then(|| "alice_irc".to_owned());
    assert_eq!(matrix_to_irc(html, &nick), "hi alice_irc: yo");
    let enc = "<a href=\"https://matrix.to/#/%40bob%3Aexample.org?via=x\">Bob</a>";
    assert_eq!(
        matrix_to_irc(enc, &|u| Some(u.localpart().to_owned())),
        "bob"
    );
    assert_eq!(
        pill_user("matrix:u/carol:example.org?action=chat").map(|u| u.to_string()),
        Some("@carol:example.org".into())
    );
    assert_eq!(pill_user("https://matrix.to/#/!room:example.org"), None);
    assert_eq!(pill_user("https://matrix.to/#/@bad"), None);
}

#[test]
fn blocks_and_breaks() {
    assert_eq!(conv("<p>one</p>\n<p>two</p>"), "one\ntwo");
    assert_eq!(conv("a<br>b<br/>c"), "a\nb\nc");
    assert_eq!(conv("<div>x</div>y"), "x\ny");
    assert_eq!(conv("<h1>Title</h1>text"), "\x02Title\ntext");
    assert_eq!(conv("a<hr>b"), "a\n---\nb");
}

#[test]
fn styles_are_reapplied_on_each_line() {
    assert_eq!(conv("<b>a<br>b</b>"), "\x02a\n\x02b");
}

#[test]
fn quotes_and_lists() {
    assert_eq!(
        conv("<blockquote>q1<br>q2</blockquote>after"),
        "> q1\n> q2\nafter"
    );
    assert_eq!(conv("<ul><li>a</li><li>b</li></ul>"), "- a\n- b");
    assert_eq!(
        conv("<ol start=\"3\"><li>a</li><li>b</li></ol>"),
        "3. a\n4. b"
    );
    assert_eq!(conv("<ul><li>a<ul><li>n</li></ul></li></ul>"), "- a\n  - n");
    assert_eq!(conv("<ul><li>x<br>y</li></ul>"), "- x\n  y");
}

#[test]
fn extreme_list_starts_do_not_overflow() {
    assert_eq!(
        conv("<ol start=\"-9223372036854775808\"><li>a</li><li>b</li></ol>"),
        "-9223372036854775808. a\n-9223372036854775807. b"
    );
    assert_eq!(
        conv("<ol start=\"9223372036854775807\"><li>a</li><li>b</li></ol>"),
        "9223372036854775807. a\n9223372036854775807. b"
    );
}

#[test]
fn pre_keeps_whitespace_and_is_monospace() {
    assert_eq!(
        conv("<pre><code>fn  main() {\n    x\n}</code></pre>"),
        "\x11fn  main() {\n\x11    x\n\x11}"
    );
}

#[test]
fn replies_are_dropped() {
    let html = "<mx-reply><blockquote><a href=\"https://matrix.to/#/!r/$e\">In reply to</a> \
                <a href=\"https://matrix.to/#/@a:b.c\">@a:b.c</a><br>quoted</blockquote></mx-reply>answer";
    assert_eq!(conv(html), "answer");
}

#[test]
fn unknown_tags_and_images() {
    assert_eq!(
        conv("<marquee>hey</marquee> <foo bar=1>there</foo>"),
        "hey there"
    );
    assert_eq!(
        conv("<img src=\"mxc://a/b\" alt=\":cat:\"> meow"),
        ":cat: meow"
    );
    assert_eq!(conv("<script>alert(1)</script>ok"), "ok");
    assert_eq!(
        conv("<span data-mx-spoiler>secret</span>"),
        "\x0301,01secret"
    );
}

#[test]
fn malformed_input_does_not_panic() {
    for s in [
        "",
        "<",
        ">",
        "<<>>",
        "<b",
        "</b>",
        "<a href>",
        "<ol start=\"-99999999999999999999\"><li>x",
        "<font color=\"#\">",
        "&",
        "&#0;",
        "&#xFFFFFF;",
        "<li><li><li>",
        "<pre>\r\n</pre>",
        "<table><tr><td>a</td><td>b</td></tr></table>",
        "\u{0}\u{1}\u{7f}",
    ] {
        let _ = conv(s);
    }
    assert_eq!(conv("<table><tr><td>a</td><td>b</td></tr></table>"), "a b");
}

#[test]
fn deep_nesting_does_not_overflow_a_small_stack() {
    let depth = 20_000;
    let html = format!("{}x{}", "<b><i>".repeat(depth), "</i></b>".repeat(depth));
    let html2 = format!("{}y", "<div>".repeat(depth));
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || (conv(&html), conv(&html2)))
        .unwrap();
    let (a, b) = handle.join().unwrap();
    assert!(a.ends_with('x'));
    assert!(b.ends_with('y'));
}

#[test]
fn moderately_deep_nesting_is_still_formatted() {
    let html = format!("{}x{}", "<b>".repeat(200), "</b>".repeat(200));
    assert_eq!(conv(&html), "\x02x");
    assert_eq!(strip_tags("<b>a &amp; b</b>\n<i>c</i>"), "a & b c");
}
