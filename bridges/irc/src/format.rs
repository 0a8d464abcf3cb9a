//! IRC formatting ↔ Matrix HTML, both directions.
//!
//! IRC styles are in-band control codes that end with the line; Matrix uses a small HTML subset.
//! Both converters are total: any input gives some output, never a panic.

mod colors;
mod html_to_irc;
mod irc_to_html;

pub use colors::{MIRC_PALETTE, Rgb, mirc_color, nearest_mirc};
pub use html_to_irc::{PillResolver, matrix_to_irc, pill_user};
pub use irc_to_html::{Formatted, escape_html, irc_to_matrix, strip_irc_formatting};

use ferrybridge_core::events::MessageContent;

/// Builds the Matrix content for a message from IRC (`emote` for CTCP ACTION).
pub fn irc_to_content(text: &str, emote: bool) -> MessageContent {
    let Formatted { body, html } = irc_to_matrix(text);
    let content = if emote {
        MessageContent::emote(body)
    } else {
        MessageContent::text(body)
    };
    match html {
        Some(html) => content.with_html(html),
        None => content,
    }
}

/// The IRC text for a Matrix message: its HTML converted when present, else its plain body.
pub fn content_to_irc(content: &MessageContent, pill_nick: PillResolver<'_>) -> String {
    match &content.html {
        Some(html) => matrix_to_irc(html, pill_nick),
        None => content.body.clone(),
    }
}

#[cfg(test)]
mod proptests;

/// Bytes of colour digits after a `\x03` (`fg[,bg]`), for code-aware splitting.
pub(crate) fn parse_mirc_color_len(s: &str) -> usize {
    irc_to_html::parse_mirc_color(s).2
}

/// `(fg, bg, bytes)` of the colour digits after a `\x03`.
pub(crate) fn parse_mirc_color_codes(s: &str) -> (Option<u8>, Option<u8>, usize) {
    irc_to_html::parse_mirc_color(s)
}

/// Bytes of hex colour after a `\x04` (`RRGGBB[,RRGGBB]`).
pub(crate) fn parse_hex_color_len(s: &str) -> usize {
    irc_to_html::parse_hex_color(s).2
}
