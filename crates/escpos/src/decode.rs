//! The decoder: an ESC/POS byte stream read back into what the paper shows.
//!
//! It follows the command set (Epson's ESC/POS reference and the Chinese
//! FS commands), not the encoder in this crate, and it is strict: a command
//! it does not know, a cut-off command or text that is not valid GB18030 is
//! an error, so a test catches what a real printer would print as garbage.

use encoding_rs::GB18030;

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const FS: u8 = 0x1C;
const DLE: u8 = 0x10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("command {command} cut off at byte {at}")]
    Truncated { command: String, at: usize },
    #[error("unknown command {command} at byte {at}")]
    Unknown { command: String, at: usize },
    #[error("text at byte {at} is not valid GB18030")]
    BadText { at: usize },
    #[error("barcode data at byte {at} is not ASCII")]
    BadBarcode { at: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Centre,
    Right,
}

/// A printed line of text and how it was printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    pub text: String,
    pub align: Align,
    pub bold: bool,
    /// Double width (and height).
    pub double: bool,
}

/// What one part of the job puts on the paper (or does to the drawer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    Text(TextLine),
    /// Blank lines fed.
    Feed(u8),
    /// A barcode; `system` is GS k's m (73 is CODE128). For CODE128 the
    /// code-set prefix ("{B") is removed from `data`.
    Barcode {
        system: u8,
        data: String,
        align: Align,
    },
    Qr {
        data: String,
        align: Align,
    },
    Cut,
    /// ESC p: a pulse on the drawer connector pin (2 or 5).
    DrawerPulse {
        pin: u8,
        on_ms: u32,
        off_ms: u32,
    },
}

#[derive(Debug, Default)]
struct State {
    align: Align,
    bold: bool,
    double: bool,
    chinese: bool,
    qr_store: Option<String>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, command: &str) -> Result<&[u8], DecodeError> {
        if self.pos + n > self.bytes.len() {
            return Err(DecodeError::Truncated {
                command: command.to_owned(),
                at: self.pos,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self, command: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, command)?[0])
    }
}

/// Decode a whole job.
pub fn decode(bytes: &[u8]) -> Result<Vec<Element>, DecodeError> {
    let mut out = Vec::new();
    let mut st = State::default();
    let mut text: Vec<u8> = Vec::new();
    let mut text_at = 0;
    let mut r = Reader { bytes, pos: 0 };

    // Pending text is printed at a line feed, and before anything that is
    // not text (a printer flushes its line buffer then).
    let flush = |text: &mut Vec<u8>, at: usize, st: &State, out: &mut Vec<Element>, force: bool| {
        if text.is_empty() && !force {
            return Ok(());
        }
        let s = decode_text(text, st.chinese, at)?;
        text.clear();
        out.push(Element::Text(TextLine {
            text: s,
            align: st.align,
            bold: st.bold,
            double: st.double,
        }));
        Ok(())
    };

    while r.pos < bytes.len() {
        let at = r.pos;
        let b = r.byte("")?;
        match b {
            b'\n' => flush(&mut text, text_at, &st, &mut out, true)?,
            b'\r' => {}
            ESC => {
                let c = r.byte("ESC")?;
                match c {
                    b'@' => {
                        flush(&mut text, text_at, &st, &mut out, false)?;
                        let chinese = st.chinese;
                        st = State::default();
                        // ESC @ resets print modes; the Chinese mode is a
                        // printer setting that FS . turns off.
                        st.chinese = chinese;
                    }
                    b'a' => {
                        st.align = match r.byte("ESC a")? {
                            0 | 48 => Align::Left,
                            1 | 49 => Align::Centre,
                            2 | 50 => Align::Right,
                            n => return Err(unknown(format!("ESC a {n}"), at)),
                        }
                    }
                    b'E' => st.bold = r.byte("ESC E")? & 1 == 1,
                    b'!' => {
                        let n = r.byte("ESC !")?;
                        st.bold = n & 0x08 != 0;
                        st.double = n & 0x30 != 0;
                    }
                    b'd' => {
                        flush(&mut text, text_at, &st, &mut out, false)?;
                        out.push(Element::Feed(r.byte("ESC d")?));
                    }
                    b'p' => {
                        let p = r.take(3, "ESC p")?;
                        let pin = match p[0] {
                            0 | 48 => 2,
                            1 | 49 => 5,
                            n => return Err(unknown(format!("ESC p {n}"), at)),
                        };
                        out.push(Element::DrawerPulse {
                            pin,
                            on_ms: u32::from(p[1]) * 2,
                            off_ms: u32::from(p[2]) * 2,
                        });
                    }
                    // Underline, line spacing, code table: no effect on the
                    // text we read back.
                    b'-' | b'3' | b't' | b'M' => {
                        r.byte("ESC")?;
                    }
                    b'2' => {}
                    n => return Err(unknown(format!("ESC 0x{n:02X}"), at)),
                }
            }
            FS => {
                let c = r.byte("FS")?;
                match c {
                    b'&' => st.chinese = true,
                    b'.' => st.chinese = false,
                    b'!' => {
                        let n = r.byte("FS !")?;
                        st.double = n & 0x0C != 0 || st.double;
                    }
                    n => return Err(unknown(format!("FS 0x{n:02X}"), at)),
                }
            }
            GS => {
                let c = r.byte("GS")?;
                match c {
                    b'!' => {
                        let n = r.byte("GS !")?;
                        st.double = n != 0;
                    }
                    b'V' => {
                        flush(&mut text, text_at, &st, &mut out, false)?;
                        let m = r.byte("GS V")?;
                        match m {
                            0 | 1 | 48 | 49 => {}
                            65 | 66 => {
                                r.byte("GS V")?;
                            }
                            n => return Err(unknown(format!("GS V {n}"), at)),
                        }
                        out.push(Element::Cut);
                    }
                    b'h' | b'w' | b'H' | b'f' => {
                        r.byte("GS")?;
                    }
                    b'k' => {
                        flush(&mut text, text_at, &st, &mut out, false)?;
                        let m = r.byte("GS k")?;
                        let data: Vec<u8> = if m <= 6 {
                            // Function A: the data ends with NUL.
                            let start = r.pos;
                            let end = bytes[start..].iter().position(|&b| b == 0).ok_or(
                                DecodeError::Truncated {
                                    command: "GS k".into(),
                                    at,
                                },
                            )?;
                            r.pos = start + end + 1;
                            bytes[start..start + end].to_vec()
                        } else if (65..=79).contains(&m) {
                            let n = usize::from(r.byte("GS k")?);
                            r.take(n, "GS k")?.to_vec()
                        } else {
                            return Err(unknown(format!("GS k {m}"), at));
                        };
                        let s = if m == 73 {
                            code128_text(&data).ok_or(DecodeError::BadBarcode { at })?
                        } else if data.is_ascii() {
                            String::from_utf8_lossy(&data).into_owned()
                        } else {
                            return Err(DecodeError::BadBarcode { at });
                        };
                        out.push(Element::Barcode {
                            system: m,
                            data: s,
                            align: st.align,
                        });
                    }
                    b'(' => {
                        let f = r.byte("GS (")?;
                        let len = r.take(2, "GS (")?;
                        let n = usize::from(len[0]) + 256 * usize::from(len[1]);
                        let body = r.take(n, "GS (")?.to_vec();
                        if f != b'k' {
                            return Err(unknown(format!("GS ( 0x{f:02X}"), at));
                        }
                        // cn 49 is QR; fn 80 stores data, 81 prints it.
                        match (body.first(), body.get(1)) {
                            (Some(49), Some(80)) if body.len() >= 3 => {
                                st.qr_store =
                                    Some(String::from_utf8_lossy(&body[3..]).into_owned());
                            }
                            (Some(49), Some(81)) => {
                                flush(&mut text, text_at, &st, &mut out, false)?;
                                let data = st.qr_store.take().ok_or(DecodeError::Unknown {
                                    command: "QR print with nothing stored".into(),
                                    at,
                                })?;
                                out.push(Element::Qr {
                                    data,
                                    align: st.align,
                                });
                            }
                            (Some(49), Some(65 | 67 | 69)) => {}
                            _ => return Err(unknown("GS ( k".into(), at)),
                        }
                    }
                    n => return Err(unknown(format!("GS 0x{n:02X}"), at)),
                }
            }
            DLE => return Err(unknown("DLE (real-time command)".into(), at)),
            0x09 => {
                if text.is_empty() {
                    text_at = at;
                }
                text.push(b' ');
            }
            b if b < 0x20 || b == 0x7F => {
                return Err(unknown(format!("control byte 0x{b:02X}"), at))
            }
            b => {
                if text.is_empty() {
                    text_at = at;
                }
                text.push(b);
            }
        }
    }
    flush(&mut text, text_at, &st, &mut out, false)?;
    Ok(out)
}

/// The text of CODE128 data: "{A"/"{B" select the character sets, "{C"
/// digit pairs sent as values 0–99, "{{" is a brace. The data must start
/// by choosing a set.
fn code128_text(data: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut set = None;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'{' {
            match data.get(i + 1)? {
                c @ (b'A' | b'B' | b'C') => set = Some(*c),
                b'{' if set == Some(b'B') => out.push('{'),
                _ => return None,
            }
            i += 2;
            continue;
        }
        match set? {
            b'C' if b <= 99 => out.push_str(&format!("{b:02}")),
            b'A' | b'B' if (0x20..0x7F).contains(&b) => out.push(char::from(b)),
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

fn unknown(command: String, at: usize) -> DecodeError {
    DecodeError::Unknown { command, at }
}

fn decode_text(bytes: &[u8], chinese: bool, at: usize) -> Result<String, DecodeError> {
    if chinese {
        GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|s| s.into_owned())
            .ok_or(DecodeError::BadText { at })
    } else if bytes.is_ascii() {
        Ok(String::from_utf8_lossy(bytes).into_owned())
    } else {
        Err(DecodeError::BadText { at })
    }
}
