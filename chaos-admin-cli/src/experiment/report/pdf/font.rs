//! PDF's standard Helvetica and Helvetica-Bold (PDF 32000-1:2008 §9.6.2.2: every reader has
//! them, so nothing is embedded): text encoded in WinAnsiEncoding (§D.2), and widths from
//! Adobe's Helvetica AFM metrics, in 1/1000 of the font size, to wrap and truncate lines.

use pdf_writer::Name;

/// The report's two fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    Regular,
    Bold,
}

impl Font {
    /// The PostScript name of the standard font.
    pub(super) fn base_font(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"Helvetica"),
            Font::Bold => Name(b"Helvetica-Bold"),
        }
    }

    /// The name of the font in each page's resources.
    pub(super) fn resource(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }

    /// The width of text in points at `size` pt.
    pub(super) fn width(self, text: &str, size: f32) -> f32 {
        let units: u32 = encode(text).into_iter().map(|b| self.advance(b)).sum();
        units as f32 * size / 1000.0
    }

    /// The advance of one WinAnsi byte, in 1/1000 em.
    fn advance(self, byte: u8) -> u32 {
        let table = match self {
            Font::Regular => &REGULAR,
            Font::Bold => &BOLD,
        };
        match byte {
            32..=126 => u32::from(table[usize::from(byte - 32)]),
            0x85 | 0x97 | 0x89 => 1000, // … — ‰
            0x95 => 350,                // •
            0x96 => 556,                // –
            // Accented letters and other Latin-1 signs: the widest common letter width, so
            // a line measured here never overflows.
            _ => 778,
        }
    }
}

/// Helvetica advances for ASCII 32 (space) to 126 (`~`).
const REGULAR: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space–/
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0–9
    278, 278, 584, 584, 584, 556, 1015, // :–@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A–M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N–Z
    278, 278, 278, 469, 556, 333, // [–`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a–m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n–z
    334, 260, 334, 584, // {–~
];

/// Helvetica-Bold advances for ASCII 32 (space) to 126 (`~`).
const BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // space–/
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0–9
    333, 333, 584, 584, 584, 611, 975, // :–@
    722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, // A–M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N–Z
    333, 278, 333, 584, 556, 333, // [–`
    556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, // a–m
    611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, // n–z
    389, 280, 389, 584, // {–~
];

/// Text in WinAnsiEncoding: ASCII and Latin-1 as themselves, the typographic signs of
/// 0x80–0x9F (€ ‚ „ … † ‡ ‰ ‘ ’ “ ” • – — ™ and the letters Š š Œ œ Ž ž Ÿ ƒ), control
/// characters as spaces, and any other character as `?` (the standard fonts have no glyph
/// for it).
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars().map(winansi).collect()
}

fn winansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        c if c.is_control() => b' ',
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => b'?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_latin_1_typography_and_replaces_the_rest() {
        assert_eq!(encode("ok (1)"), b"ok (1)");
        assert_eq!(encode("café"), b"caf\xe9");
        assert_eq!(encode("a…b—c€"), b"a\x85b\x97c\x80");
        assert_eq!(encode("a\tb\nc"), b"a b c");
        assert_eq!(encode("日本 →"), b"?? ?");
    }

    #[test]
    fn widths_follow_the_afm_metrics() {
        // "Hello": H 722 + e 556 + l 222 + l 222 + o 556 = 2278 at 10 pt.
        assert!((Font::Regular.width("Hello", 10.0) - 22.78).abs() < 1e-3);
        // Bold: 722 + 556 + 278 + 278 + 611 = 2445.
        assert!((Font::Bold.width("Hello", 10.0) - 24.45).abs() < 1e-3);
        assert!(Font::Regular.width("W", 10.0) > Font::Regular.width("i", 10.0));
    }
}
