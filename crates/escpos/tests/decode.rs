//! The decoder against hand-made byte sequences and GB18030 test vectors,
//! then the encoder's receipts read back through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shouyin_escpos::encode::Justify;
use shouyin_escpos::layout::width;
use shouyin_escpos::{decode, Align, DecodeError, Element, Paper, Receipt, TextLine};

fn text(t: &str, align: Align, bold: bool, double: bool) -> Element {
    Element::Text(TextLine {
        text: t.into(),
        align,
        bold,
        double,
    })
}

#[test]
fn gb18030_vectors_decode_in_chinese_mode() {
    // Two-byte GB2312 / GBK and four-byte GB18030 sequences, written out by hand.
    let cases: &[(&[u8], &str)] = &[
        (&[0xD6, 0xD0, 0xCE, 0xC4], "中文"), // GB2312
        (&[0xCA, 0xD5, 0xD2, 0xF8], "收银"), // GB2312
        (&[0xA3, 0xA4, 0x31, 0x32, 0x2E, 0x33, 0x30], "￥12.30"), // full-width yen
        (&[0x81, 0x30, 0x84, 0x36], "¥"),    // four-byte U+00A5
        (&[0x81, 0x30, 0x81, 0x30], "\u{80}"), // the first four-byte code
        (&[0x90, 0x30, 0x81, 0x30], "\u{10000}"), // the first supplementary plane code
        (&[0x95, 0x32, 0x82, 0x36], "\u{20000}"), // CJK extension B's first character 𠀀
        (&[0x81, 0x40], "丂"),               // GBK extension
    ];
    for (bytes, expected) in cases {
        let mut job = vec![0x1C, 0x26];
        job.extend_from_slice(bytes);
        job.push(0x0A);
        let got = decode(&job).unwrap_or_else(|e| panic!("{bytes:02X?}: {e}"));
        assert_eq!(
            got,
            vec![text(expected, Align::Left, false, false)],
            "{bytes:02X?}"
        );
    }
}

#[test]
fn a_hand_made_job_decodes_to_what_the_paper_shows() {
    let job: Vec<u8> = [
        &[0x1B, 0x40, 0x1C, 0x26][..],         // reset, Chinese mode
        &[0x1B, 0x61, 0x01, 0x1B, 0x45, 0x01], // centre, bold
        &[0xC9, 0xCC, 0xB5, 0xEA, 0x0A],       // 商店
        &[0x1B, 0x45, 0x00, 0x1B, 0x61, 0x00], // bold off, left
        &[0x1D, 0x21, 0x11],                   // double size
        b"12.30\n",
        &[0x1D, 0x21, 0x00],
        &[0x1D, 0x6B, 73, 6, b'{', b'B', b'A', b'1', b'2', b'3'], // CODE128
        &[0x1D, 0x28, 0x6B, 3, 0, 49, 67, 6],                     // QR size
        &[0x1D, 0x28, 0x6B, 6, 0, 49, 80, 48, b'x', b'y', b'z'],  // store "xyz"
        &[0x1D, 0x28, 0x6B, 3, 0, 49, 81, 48],                    // print it
        &[0x1B, 0x64, 0x03],                                      // feed 3
        &[0x1D, 0x56, 0x42, 0x03],                                // cut
        &[0x1B, 0x70, 0x00, 0x19, 0xFA],                          // drawer pin 2, 50/500 ms
    ]
    .concat();
    assert_eq!(
        decode(&job).unwrap(),
        vec![
            text("商店", Align::Centre, true, false),
            text("12.30", Align::Left, false, true),
            Element::Barcode {
                system: 73,
                data: "A123".into(),
                align: Align::Left
            },
            Element::Qr {
                data: "xyz".into(),
                align: Align::Left
            },
            Element::Feed(3),
            Element::Cut,
            Element::DrawerPulse {
                pin: 2,
                on_ms: 50,
                off_ms: 500
            },
        ]
    );
}

#[test]
fn code128_digit_pairs_in_code_set_c_decode_to_digits() {
    // "T01_" in set B, "20261130" as four set-C values, "_" in set B again.
    let job = [
        &[
            0x1D, 0x6B, 73, 14, b'{', b'B', b'T', b'0', b'1', b'_', b'{', b'C', 20, 26, 11, 30,
        ][..],
        b"{B_",
    ]
    .concat();
    let mut job = job;
    job[3] = (job.len() - 4) as u8;
    assert_eq!(
        decode(&job).unwrap(),
        vec![Element::Barcode {
            system: 73,
            data: "T01_20261130_".into(),
            align: Align::Left
        }]
    );
    // Data before any code set, and a set-C value above 99, are refused.
    assert!(decode(&[0x1D, 0x6B, 73, 2, b'A', b'B']).is_err());
    assert!(decode(&[0x1D, 0x6B, 73, 3, b'{', b'C', 100]).is_err());
}

#[test]
fn a_long_order_number_fits_80_mm_as_a_barcode() {
    let no = "T01_20261130105119_000001";
    let dots = Receipt::barcode_dots(no).unwrap();
    assert!(dots <= 576, "{dots} dots");
    let mut r = Receipt::new(Paper::Mm80);
    r.barcode(no).unwrap();
    let els = decode(r.bytes()).unwrap();
    assert_eq!(
        els,
        vec![Element::Barcode {
            system: 73,
            data: no.into(),
            align: Align::Left
        }]
    );
}

#[test]
fn broken_jobs_are_errors_not_garbage() {
    assert!(matches!(
        decode(&[0x1B, 0x70, 0x00]),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        decode(&[0x1B, 0x7A, 0x00]),
        Err(DecodeError::Unknown { .. })
    ));
    // A lead byte without its trail byte.
    assert!(matches!(
        decode(&[0x1C, 0x26, 0xD6, 0x0A]),
        Err(DecodeError::BadText { .. })
    ));
    // Chinese bytes without the Chinese mode.
    assert!(matches!(
        decode(&[0xD6, 0xD0, 0x0A]),
        Err(DecodeError::BadText { .. })
    ));
    assert!(matches!(decode(&[0x07]), Err(DecodeError::Unknown { .. })));
}

#[test]
fn the_encoders_receipt_reads_back_line_for_line() {
    for paper in [Paper::Mm58, Paper::Mm80] {
        let mut r = Receipt::new(paper);
        r.drawer_kick()
            .justify(Justify::Centre)
            .bold(true)
            .double(true)
            .line("演示门店 Demo")
            .double(false)
            .bold(false)
            .justify(Justify::Left)
            .row("金额 Amount", "￥12.30")
            .row("微信支付 WeChat", "4200001234")
            .rule();
        r.barcode("T01-20261130-0001").unwrap();
        r.qr("T01-20261130-0001").unwrap();
        r.feed(2).cut();
        let els = decode(r.bytes()).unwrap();
        assert_eq!(
            els[0],
            Element::DrawerPulse {
                pin: 2,
                on_ms: 50,
                off_ms: 500
            }
        );
        assert_eq!(els[1], text("演示门店 Demo", Align::Centre, true, true));
        let Element::Text(amount) = &els[2] else {
            panic!("{els:?}")
        };
        assert!(amount.text.starts_with("金额 Amount") && amount.text.ends_with("￥12.30"));
        assert_eq!(width(&amount.text), paper.columns(), "{:?}", amount.text);
        let Element::Text(rule) = &els[4] else {
            panic!("{els:?}")
        };
        assert_eq!(rule.text.len(), paper.columns());
        assert_eq!(
            els[5..],
            [
                Element::Barcode {
                    system: 73,
                    data: "T01-20261130-0001".into(),
                    align: Align::Left
                },
                Element::Qr {
                    data: "T01-20261130-0001".into(),
                    align: Align::Left
                },
                Element::Feed(2),
                Element::Cut,
            ]
        );
    }
}
