//! The payment code as an SVG image: the channel's payload, medium error
//! correction (a phone reads it from a scratched or glaring screen) and the
//! standard four-module quiet zone (scanners need the margin).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::{ApiError, ErrorCode};

/// Render `payload` as a square SVG QR code.
pub fn qr_svg(payload: &str) -> Result<String, ApiError> {
    if payload.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "there is no payment code to show",
        ));
    }
    let code =
        QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("cannot encode the payment code: {e}"),
            )
        })?;
    Ok(code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_svg_with_medium_correction_and_a_quiet_zone() {
        let svg = qr_svg("https://qr.alipay.com/bax03431ljhokirwl38f00a7").unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        let code = QrCode::with_error_correction_level(
            b"https://qr.alipay.com/bax03431ljhokirwl38f00a7",
            EcLevel::M,
        )
        .unwrap();
        assert_eq!(code.error_correction_level(), EcLevel::M);
        // 4 modules of quiet zone on each side: the image is wider than the code.
        let width = code.width();
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {} {}\"", width + 8, width + 8))
                || svg.contains("width=")
        );
        assert_eq!(qr_svg("").unwrap_err().code, ErrorCode::InvalidInput);
    }
}
