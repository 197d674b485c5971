//! The picture of the paper: 8 dots per millimetre as thermal printers
//! print, 12 dots per Latin column (a 24-dot font, Chinese characters two
//! columns wide), drawn with a CJK monospace font from the system.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use image::{GrayImage, Luma};
use shouyin_escpos::{layout, Align, Element};

const COLUMN_DOTS: u32 = 12;
const LINE_DOTS: u32 = 30;
const FONT_PX: f32 = 24.0;
const MARGIN: u32 = 12;

/// Noto Sans Mono CJK (Debian's fonts-noto-cjk), regular and bold.
const FONT_FILES: &[(&str, &str)] = &[(
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)];

#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error("no CJK font found (install fonts-noto-cjk); looked for {0}")]
    NoFont(String),
}

/// The fonts the paper is drawn with.
#[derive(Debug)]
pub struct Fonts {
    regular: FontVec,
    bold: FontVec,
}

impl Fonts {
    /// Load the system's CJK monospace font.
    pub fn system() -> Result<Fonts, PaperError> {
        for (regular, bold) in FONT_FILES {
            if let (Some(r), Some(b)) = (mono_face(regular), mono_face(bold)) {
                return Ok(Fonts {
                    regular: r,
                    bold: b,
                });
            }
        }
        Err(PaperError::NoFont(
            FONT_FILES
                .iter()
                .map(|(r, _)| *r)
                .collect::<Vec<_>>()
                .join(", "),
        ))
    }
}

/// The face of a font collection that is monospaced (a Latin letter half a
/// Chinese character) and has Chinese characters.
fn mono_face(path: &str) -> Option<FontVec> {
    let data = std::fs::read(path).ok()?;
    for index in 0..16 {
        let font = FontVec::try_from_vec_and_index(data.clone(), index).ok()?;
        let han = font.glyph_id('中');
        if han.0 == 0 {
            continue;
        }
        let (a, b) = (
            font.h_advance_unscaled(font.glyph_id('i')),
            font.h_advance_unscaled(font.glyph_id('W')),
        );
        if (a - b).abs() < 0.5 && (font.h_advance_unscaled(han) - 2.0 * a).abs() < 1.0 {
            return Some(font);
        }
    }
    None
}

pub(crate) fn draw(elements: &[Element], columns: usize, fonts: &Fonts) -> Vec<u8> {
    let width = columns as u32 * COLUMN_DOTS + 2 * MARGIN;
    let height = elements.iter().map(height_of).sum::<u32>() + 2 * MARGIN;
    let mut img = GrayImage::from_pixel(width, height.max(1), Luma([255]));
    let inner = width - 2 * MARGIN;
    let mut y = MARGIN;
    for e in elements {
        match e {
            Element::Text(t) => {
                let scale = if t.double { 2 } else { 1 };
                let w = layout::width(&t.text) as u32 * COLUMN_DOTS * scale;
                let x = MARGIN + offset(t.align, inner, w);
                let font = if t.bold { &fonts.bold } else { &fonts.regular };
                text(&mut img, font, &t.text, x, y, scale);
            }
            Element::Barcode { data, align, .. } => {
                let bars = code128(data);
                let w = bars.len() as u32 * 2;
                let x0 = MARGIN + offset(*align, inner, w);
                for (i, bar) in bars.iter().enumerate() {
                    if *bar == 1 {
                        for dx in 0..2 {
                            for dy in 0..80 {
                                put(&mut img, x0 + i as u32 * 2 + dx, y + 4 + dy);
                            }
                        }
                    }
                }
                let tw = layout::width(data) as u32 * COLUMN_DOTS;
                text(
                    &mut img,
                    &fonts.regular,
                    data,
                    MARGIN + offset(*align, inner, tw),
                    y + 88,
                    1,
                );
            }
            Element::Qr { data, align } => {
                if let Ok(code) = qrcode::QrCode::new(data.as_bytes()) {
                    let n = code.width() as u32;
                    let module = 6;
                    let x0 = MARGIN + offset(*align, inner, (n + 8) * module) + 4 * module;
                    let y0 = y + 4 * module;
                    for (i, c) in code.to_colors().iter().enumerate() {
                        if *c == qrcode::Color::Dark {
                            let (cx, cy) = (i as u32 % n, i as u32 / n);
                            for dx in 0..module {
                                for dy in 0..module {
                                    put(&mut img, x0 + cx * module + dx, y0 + cy * module + dy);
                                }
                            }
                        }
                    }
                }
            }
            Element::Cut => {
                let mid = y + 10;
                let mut x = 0;
                while x < width {
                    for dx in 0..8 {
                        put(&mut img, x + dx, mid);
                    }
                    x += 14;
                }
            }
            Element::Feed(_) | Element::DrawerPulse { .. } => {}
        }
        y += height_of(e);
    }
    let mut png = Vec::new();
    // Writing a PNG into memory cannot fail for a valid image.
    if let Err(e) = img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png) {
        tracing::error!("cannot encode the paper picture: {e}");
    }
    png
}

fn height_of(e: &Element) -> u32 {
    match e {
        Element::Text(t) => LINE_DOTS * if t.double { 2 } else { 1 },
        Element::Feed(n) => LINE_DOTS * u32::from(*n),
        Element::Barcode { .. } => 124,
        Element::Qr { data, .. } => qrcode::QrCode::new(data.as_bytes())
            .map(|c| (c.width() as u32 + 8) * 6)
            .unwrap_or(0),
        Element::Cut => 20,
        Element::DrawerPulse { .. } => 0,
    }
}

fn offset(align: Align, room: u32, w: u32) -> u32 {
    match align {
        Align::Left => 0,
        Align::Centre => room.saturating_sub(w) / 2,
        Align::Right => room.saturating_sub(w),
    }
}

fn put(img: &mut GrayImage, x: u32, y: u32) {
    if x < img.width() && y < img.height() {
        img.put_pixel(x, y, Luma([0]));
    }
}

/// Draw `s` on the column grid from (x, y), the line's top.
fn text(img: &mut GrayImage, font: &FontVec, s: &str, x: u32, y: u32, scale: u32) {
    let px = PxScale::from(FONT_PX * scale as f32);
    let scaled = font.as_scaled(px);
    let baseline =
        y as f32 + (LINE_DOTS * scale) as f32 / 2.0 + (scaled.ascent() + scaled.descent()) / 2.0;
    let mut cx = x as f32;
    for c in s.chars() {
        let glyph = scaled.scaled_glyph(c);
        let glyph = ab_glyph::Glyph {
            position: ab_glyph::point(cx, baseline),
            ..glyph
        };
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                if cov > 0.5 {
                    let px = b.min.x as i64 + i64::from(gx);
                    let py = b.min.y as i64 + i64::from(gy);
                    if px >= 0 && py >= 0 {
                        put(img, px as u32, py as u32);
                    }
                }
            });
        }
        cx += (layout::char_width(c) as u32 * COLUMN_DOTS * scale) as f32;
    }
}

/// CODE128 bars of `data`, digit runs of four or more in code set C as a
/// printer would; empty when it cannot be encoded.
fn code128(data: &str) -> Vec<u8> {
    // barcoders marks code sets with 'Ɓ' (B) and 'Ć' (C).
    let mut marked = String::new();
    let mut set = ' ';
    let chars: Vec<char> = data.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run >= 4 {
            if set != 'C' {
                marked.push('\u{0106}');
                set = 'C';
            }
            marked.extend(&chars[i..i + run / 2 * 2]);
            i += run / 2 * 2;
        } else {
            if set != 'B' {
                marked.push('\u{0181}');
                set = 'B';
            }
            marked.push(chars[i]);
            i += 1;
        }
    }
    barcoders::sym::code128::Code128::new(marked)
        .map(|c| c.encode())
        .unwrap_or_default()
}
