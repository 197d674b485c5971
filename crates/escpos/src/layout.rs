//! Column layout by display width. Receipt printers print Latin letters and
//! digits in one column and Chinese characters in two, so lining up mixed
//! text means counting display columns, not characters or bytes.

use unicode_width::UnicodeWidthChar;

/// The paper a printer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 58 mm roll: 32 Latin columns (384 dots).
    Mm58,
    /// 80 mm roll: 48 Latin columns (576 dots).
    Mm80,
}

impl Paper {
    /// Paper from its width in millimetres (58 or 80).
    pub fn from_mm(mm: u32) -> Option<Paper> {
        match mm {
            58 => Some(Paper::Mm58),
            80 => Some(Paper::Mm80),
            _ => None,
        }
    }

    pub fn mm(self) -> u32 {
        match self {
            Paper::Mm58 => 58,
            Paper::Mm80 => 80,
        }
    }

    /// Latin columns per line in the normal font.
    pub fn columns(self) -> usize {
        match self {
            Paper::Mm58 => 32,
            Paper::Mm80 => 48,
        }
    }
}

/// Display columns of one character: 2 for wide (CJK, full-width), 0 for
/// control and combining characters, 1 otherwise.
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Display columns of a string.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// The longest prefix of `s` that fits in `max` columns.
pub fn fit(s: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = char_width(c);
        if used + w > max {
            return &s[..i];
        }
        used += w;
    }
    s
}

/// `s` broken into lines of at most `max` columns. A wide character is
/// never split across lines, and a Latin word is kept whole when the line
/// has a space to break at ("Demo Store" is not printed "Demo St / ore").
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = s;
    while width(rest) > max {
        let mut head = fit(rest, max.max(2));
        if head.is_empty() {
            break;
        }
        let cuts_a_word = head.chars().next_back().is_some_and(is_word_char)
            && rest[head.len()..].chars().next().is_some_and(is_word_char);
        if cuts_a_word {
            if let Some(space) = head.rfind(' ').filter(|i| !head[..*i].trim().is_empty()) {
                head = &head[..space];
            }
        }
        lines.push(head.trim_end().to_owned());
        rest = rest[head.len()..].trim_start_matches(' ');
    }
    lines.push(rest.to_owned());
    lines
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `left` and `right` on one line of `columns`, `right` flush right. A left
/// part too long for the line is cut so the right part (the amount) always
/// shows in full.
pub fn row(left: &str, right: &str, columns: usize) -> String {
    let right_w = width(right);
    let room = columns.saturating_sub(right_w + 1);
    let left = fit(left, room);
    let gap = columns.saturating_sub(width(left) + right_w);
    format!("{left}{}{right}", " ".repeat(gap.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_characters_take_two_columns() {
        assert_eq!(width("金额"), 4);
        assert_eq!(width("金额 12.30"), 10);
        assert_eq!(width("￥"), 2);
    }

    #[test]
    fn a_row_fills_the_line_by_display_width() {
        for paper in [Paper::Mm58, Paper::Mm80] {
            let r = row("合计 Total", "12.30", paper.columns());
            assert_eq!(width(&r), paper.columns(), "{r:?}");
            assert!(r.ends_with("12.30"));
        }
    }

    #[test]
    fn a_long_left_part_is_cut_and_the_amount_kept() {
        let r = row("一二三四五六七八九十一二三四五六七八九十", "1234.56", 32);
        assert!(r.ends_with(" 1234.56"), "{r:?}");
        assert!(width(&r) <= 32);
    }

    #[test]
    fn wrapping_keeps_latin_words_whole_where_it_can() {
        // The store name in double size on 58 mm paper (16 columns).
        assert_eq!(
            wrap("演示门店 Demo Store", 16),
            vec!["演示门店 Demo", "Store"]
        );
        // A word longer than the line is still cut.
        assert_eq!(
            wrap("ab Supercalifragilistic", 8),
            vec!["ab", "Supercal", "ifragili", "stic"]
        );
        // Chinese text has no spaces and breaks anywhere.
        assert_eq!(wrap("欢迎光临本店", 8), vec!["欢迎光临", "本店"]);
    }

    #[test]
    fn wrapping_never_splits_a_wide_character() {
        let lines = wrap("收银台欢迎光临 Welcome", 7);
        assert_eq!(lines, vec!["收银台", "欢迎光", "临", "Welcome"]);
        for l in &lines {
            assert!(width(l) <= 7);
        }
    }
}
