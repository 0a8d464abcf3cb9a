//! The mIRC colour palette and the mapping between it and HTML colours.

use std::fmt;

/// An sRGB colour, displayed as `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parses exactly six hex digits (`rrggbb`, no `#`).
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let p = |i: usize| u8::from_str_radix(s.get(i..i + 2)?, 16).ok();
        Some(Rgb(p(0)?, p(2)?, p(4)?))
    }

    /// Parses an HTML colour attribute: `#rrggbb`, `#rgb` or a few common names.
    pub fn from_css(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix('#') {
            if hex.len() == 3 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                let doubled: String = hex.chars().flat_map(|c| [c, c]).collect();
                return Self::from_hex(&doubled);
            }
            return Self::from_hex(hex);
        }
        let named = match s.to_ascii_lowercase().as_str() {
            "white" => Rgb(255, 255, 255),
            "black" => Rgb(0, 0, 0),
            "red" => Rgb(255, 0, 0),
            "green" => Rgb(0, 128, 0),
            "lime" => Rgb(0, 255, 0),
            "blue" => Rgb(0, 0, 255),
            "navy" => Rgb(0, 0, 128),
            "yellow" => Rgb(255, 255, 0),
            "orange" => Rgb(255, 165, 0),
            "purple" => Rgb(128, 0, 128),
            "magenta" | "fuchsia" => Rgb(255, 0, 255),
            "cyan" | "aqua" => Rgb(0, 255, 255),
            "teal" => Rgb(0, 128, 128),
            "maroon" => Rgb(128, 0, 0),
            "gray" | "grey" => Rgb(128, 128, 128),
            "silver" => Rgb(192, 192, 192),
            _ => return None,
        };
        Some(named)
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The 16 standard mIRC colours, indexed by their code.
pub const MIRC_PALETTE: [Rgb; 16] = [
    Rgb(0xff, 0xff, 0xff), // 0 white
    Rgb(0x00, 0x00, 0x00), // 1 black
    Rgb(0x00, 0x00, 0x7f), // 2 blue
    Rgb(0x00, 0x93, 0x00), // 3 green
    Rgb(0xff, 0x00, 0x00), // 4 red
    Rgb(0x7f, 0x00, 0x00), // 5 brown
    Rgb(0x9c, 0x00, 0x9c), // 6 magenta
    Rgb(0xfc, 0x7f, 0x00), // 7 orange
    Rgb(0xff, 0xff, 0x00), // 8 yellow
    Rgb(0x00, 0xfc, 0x00), // 9 light green
    Rgb(0x00, 0x93, 0x93), // 10 cyan
    Rgb(0x00, 0xff, 0xff), // 11 light cyan
    Rgb(0x00, 0x00, 0xfc), // 12 light blue
    Rgb(0xff, 0x00, 0xff), // 13 pink
    Rgb(0x7f, 0x7f, 0x7f), // 14 grey
    Rgb(0xd2, 0xd2, 0xd2), // 15 light grey
];

/// The colour of mIRC code `code`; `None` for 99 ("default") and the extended codes 16–98,
/// which clients render inconsistently and we leave uncoloured.
pub fn mirc_color(code: u8) -> Option<Rgb> {
    MIRC_PALETTE.get(usize::from(code)).copied()
}

/// The mIRC code whose colour is nearest (squared RGB distance) to `rgb`.
pub fn nearest_mirc(rgb: Rgb) -> u8 {
    let dist = |p: &Rgb| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(p.0, rgb.0) + d(p.1, rgb.1) + d(p.2, rgb.2)
    };
    MIRC_PALETTE
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| dist(p))
        .map_or(1, |(i, _)| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_css_colours() {
        assert_eq!(Rgb::from_css("#FF0000"), Some(Rgb(255, 0, 0)));
        assert_eq!(Rgb::from_css("#f00"), Some(Rgb(255, 0, 0)));
        assert_eq!(Rgb::from_css("Red"), Some(Rgb(255, 0, 0)));
        assert_eq!(Rgb::from_css("#ff00"), None);
        assert_eq!(Rgb::from_css("#gggggg"), None);
        assert_eq!(Rgb::from_css("#ééé"), None);
        assert_eq!(Rgb(1, 2, 255).to_string(), "#0102ff");
    }

    #[test]
    fn palette_round_trips_through_nearest() {
        for (i, c) in MIRC_PALETTE.iter().enumerate() {
            assert_eq!(usize::from(nearest_mirc(*c)), i);
        }
        assert_eq!(nearest_mirc(Rgb(250, 10, 10)), 4);
        assert_eq!(mirc_color(99), None);
        assert_eq!(mirc_color(16), None);
    }
}
