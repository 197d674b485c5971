//! The encoder: a print job built line by line.
//!
//! Chinese thermal printers (Xprinter, Gprinter, Epson's Chinese models)
//! switch to their Chinese code page with FS & and then read two- and
//! four-byte GB18030 sequences; Latin letters and digits stay single
//! bytes. Control characters in user text (a note, a cashier's name) are
//! replaced by spaces so no text can smuggle a command into the job.

use crate::layout::{self, Paper};

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const FS: u8 = 0x1C;
const LF: u8 = 0x0A;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("a barcode holds printable ASCII only, 1 to 40 characters: {0:?}")]
    BarcodeData(String),
    #[error("a QR code holds 1 to 700 bytes of text, not {0}")]
    QrLength(usize),
}

/// GS k's CODE128 data: "{B" text and "{C" digit pairs (as values 0–99).
fn code128_data(data: &str) -> Result<Vec<u8>, EncodeError> {
    let bytes = data.as_bytes();
    if bytes.is_empty()
        || bytes.len() > 40
        || !bytes.iter().all(|b| (0x20..0x7F).contains(b) && *b != b'{')
    {
        return Err(EncodeError::BarcodeData(data.to_owned()));
    }
    let mut out = Vec::new();
    let mut set = 0u8;
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run >= 4 {
            if set != b'C' {
                out.extend([b'{', b'C']);
                set = b'C';
            }
            for pair in bytes[i..i + run / 2 * 2].chunks(2) {
                out.push((pair[0] - b'0') * 10 + (pair[1] - b'0'));
            }
            i += run / 2 * 2;
        } else {
            if set != b'B' {
                out.extend([b'{', b'B']);
                set = b'B';
            }
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Horizontal alignment (ESC a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Justify {
    Left = 0,
    Centre = 1,
    Right = 2,
}

/// A print job in the making.
#[derive(Debug, Clone)]
pub struct Receipt {
    paper: Paper,
    bytes: Vec<u8>,
    double: bool,
}

impl Receipt {
    /// A job that starts by resetting the printer and selecting Chinese mode.
    pub fn new(paper: Paper) -> Receipt {
        Receipt {
            paper,
            bytes: vec![ESC, b'@', FS, b'&'],
            double: false,
        }
    }

    /// A job with no set-up bytes (a lone drawer pulse).
    pub fn bare(paper: Paper) -> Receipt {
        Receipt {
            paper,
            bytes: vec![ESC, b'@'],
            double: false,
        }
    }

    pub fn paper(&self) -> Paper {
        self.paper
    }

    /// Columns available now (half the paper's in double width).
    pub fn columns(&self) -> usize {
        if self.double {
            self.paper.columns() / 2
        } else {
            self.paper.columns()
        }
    }

    pub fn justify(&mut self, j: Justify) -> &mut Self {
        self.bytes.extend([ESC, b'a', j as u8]);
        self
    }

    /// Emphasis (bold) on or off (ESC E).
    pub fn bold(&mut self, on: bool) -> &mut Self {
        self.bytes.extend([ESC, b'E', u8::from(on)]);
        self
    }

    /// Double width and height on or off (GS !).
    pub fn double(&mut self, on: bool) -> &mut Self {
        self.double = on;
        self.bytes.extend([GS, b'!', if on { 0x11 } else { 0x00 }]);
        self
    }

    /// One line of text, cut to the line's columns.
    pub fn line(&mut self, text: &str) -> &mut Self {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let fitted = layout::fit(&clean, self.columns());
        let (encoded, _, _) = encoding_rs::GB18030.encode(fitted);
        self.bytes.extend_from_slice(&encoded);
        self.bytes.push(LF);
        self
    }

    /// Text over as many lines as it needs.
    pub fn wrapped(&mut self, text: &str) -> &mut Self {
        for l in layout::wrap(text, self.columns()) {
            self.line(&l);
        }
        self
    }

    /// `left` … `right` on one line, `right` flush right. When both do not
    /// fit, `left` gets its own line and `right` goes flush right below, so
    /// neither is cut ("支付方式 Paid by" / "微信支付 WeChat Pay" on 58 mm).
    pub fn row(&mut self, left: &str, right: &str) -> &mut Self {
        let columns = self.columns();
        let (left_w, right_w) = (layout::width(left), layout::width(right));
        if left_w + 1 + right_w > columns && right_w < columns && left_w > 0 {
            self.line(left);
            return self.line(&layout::row("", right, columns));
        }
        let r = layout::row(left, right, columns);
        self.line(&r)
    }

    /// A dashed rule across the paper.
    pub fn rule(&mut self) -> &mut Self {
        let dashes = "-".repeat(self.columns());
        self.line(&dashes)
    }

    /// Feed `n` blank lines (ESC d).
    pub fn feed(&mut self, n: u8) -> &mut Self {
        self.bytes.extend([ESC, b'd', n]);
        self
    }

    /// A CODE128 barcode with its text printed below. Runs of four or
    /// more digits go in code set C (two digits a symbol), which keeps a
    /// long order number narrow enough for the paper.
    pub fn barcode(&mut self, data: &str) -> Result<&mut Self, EncodeError> {
        let symbols = code128_data(data)?;
        // Height 80 dots, module width 2, human-readable text below.
        self.bytes.extend([GS, b'h', 80, GS, b'w', 2, GS, b'H', 2]);
        let n =
            u8::try_from(symbols.len()).map_err(|_| EncodeError::BarcodeData(data.to_owned()))?;
        // GS k m=73 (CODE128) n, then the data with its code-set switches.
        self.bytes.extend([GS, b'k', 73, n]);
        self.bytes.extend_from_slice(&symbols);
        Ok(self)
    }

    /// The width in dots of [`Receipt::barcode`]'s symbol for `data`.
    pub fn barcode_dots(data: &str) -> Option<usize> {
        let symbols = code128_data(data).ok()?;
        // Each "{X" switch is one symbol (the first is the start code), as
        // is each data byte; plus the check symbol and the 13-module stop.
        let switches = symbols.windows(2).filter(|w| w[0] == b'{').count();
        let data_symbols = symbols.len() - 2 * switches;
        Some(((switches + data_symbols + 1) * 11 + 13) * 2)
    }

    /// A QR code (model 2, error correction M, module size 6).
    pub fn qr(&mut self, data: &str) -> Result<&mut Self, EncodeError> {
        let len = data.len();
        if len == 0 || len > 700 {
            return Err(EncodeError::QrLength(len));
        }
        // GS ( k: function 165 (model), 167 (size), 169 (error level),
        // 180 (store the data), 181 (print the stored symbol).
        self.bytes.extend([GS, b'(', b'k', 4, 0, 49, 65, 50, 0]);
        self.bytes.extend([GS, b'(', b'k', 3, 0, 49, 67, 6]);
        self.bytes.extend([GS, b'(', b'k', 3, 0, 49, 69, 49]);
        let stored = len + 3;
        self.bytes.extend([
            GS,
            b'(',
            b'k',
            (stored % 256) as u8,
            (stored / 256) as u8,
            49,
            80,
            48,
        ]);
        self.bytes.extend_from_slice(data.as_bytes());
        self.bytes.extend([GS, b'(', b'k', 3, 0, 49, 81, 48]);
        Ok(self)
    }

    /// Feed past the cutter and cut, leaving a hinge (GS V 66 n).
    pub fn cut(&mut self) -> &mut Self {
        self.bytes.extend([GS, b'V', 66, 3]);
        self
    }

    /// The cash drawer's kick pulse on connector pin 2 (ESC p 0): 50 ms on,
    /// 500 ms off (the t1/t2 units are 2 ms), as drawer makers specify.
    pub fn drawer_kick(&mut self) -> &mut Self {
        self.bytes.extend([ESC, b'p', 0, 25, 250]);
        self
    }

    /// Append another job's bytes (one more copy).
    pub fn append(&mut self, other: &Receipt) -> &mut Self {
        self.bytes.extend_from_slice(&other.bytes);
        self
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_is_sent_in_gb18030_after_the_chinese_mode_command() {
        let mut r = Receipt::new(Paper::Mm58);
        r.line("中文 12");
        assert_eq!(
            r.bytes(),
            &[0x1B, 0x40, 0x1C, 0x26, 0xD6, 0xD0, 0xCE, 0xC4, 0x20, 0x31, 0x32, 0x0A]
        );
    }

    #[test]
    fn control_characters_in_text_cannot_become_commands() {
        let mut r = Receipt::new(Paper::Mm58);
        r.line("a\u{1b}p\u{0}\u{19}b");
        assert_eq!(&r.bytes()[4..], b"a p  b\n");
    }

    #[test]
    fn the_drawer_kick_and_the_cut_are_the_standard_sequences() {
        let mut r = Receipt::bare(Paper::Mm80);
        r.drawer_kick().cut();
        assert_eq!(
            r.bytes(),
            &[0x1B, 0x40, 0x1B, 0x70, 0, 25, 250, 0x1D, 0x56, 66, 3]
        );
    }

    #[test]
    fn bad_barcode_and_qr_data_are_refused() {
        let mut r = Receipt::new(Paper::Mm80);
        assert!(r.barcode("订单").is_err());
        assert!(r.barcode("").is_err());
        assert!(r.qr("").is_err());
        assert!(r.qr(&"x".repeat(701)).is_err());
    }

    #[test]
    fn double_size_halves_the_columns() {
        let mut r = Receipt::new(Paper::Mm58);
        r.double(true);
        assert_eq!(r.columns(), 16);
        r.double(false);
        assert_eq!(r.columns(), 32);
    }
}
