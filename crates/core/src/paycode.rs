//! The customer's payment code (付款码): which channel a scanned code
//! belongs to, decided from its digits alone, before anything is sent.
//!
//! The shapes (docs/PROTOCOLS.md §6.1): WeChat 18 digits starting 10–15;
//! Alipay 16–24 digits starting 25–30; UnionPay 19 digits starting 62.

use crate::ChannelKind;

/// Why a scanned or typed code is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayCodeError {
    #[error("no payment code was given")]
    Empty,
    #[error("a payment code is digits only")]
    NotDigits,
    #[error("{digits} digits starting {prefix} is not an Alipay, WeChat or UnionPay payment code")]
    UnknownShape { digits: usize, prefix: String },
    #[error("this is a UnionPay code; UnionPay is not enabled on this till")]
    UnionpayNotEnabled,
}

/// The channel of a payment code on a till that takes UnionPay only when
/// `unionpay_enabled` (its channel is configured): elsewhere a UnionPay code
/// is refused before anything is sent.
pub fn classify_for_till(
    code: &str,
    unionpay_enabled: bool,
) -> Result<(ChannelKind, String), PayCodeError> {
    match classify(code)? {
        (ChannelKind::Unionpay, _) if !unionpay_enabled => Err(PayCodeError::UnionpayNotEnabled),
        found => Ok(found),
    }
}

/// The channel of a payment code. Surrounding spaces (some scanners add
/// them) and full-width digits from a Chinese input method are accepted;
/// everything else must be ASCII digits.
pub fn classify(code: &str) -> Result<(ChannelKind, String), PayCodeError> {
    let digits: String = code
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            other => other,
        })
        .collect();
    if digits.is_empty() {
        return Err(PayCodeError::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PayCodeError::NotDigits);
    }
    let prefix: u32 = digits.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let len = digits.len();
    let kind = if len == 18 && (10..=15).contains(&prefix) {
        ChannelKind::Wechat
    } else if (16..=24).contains(&len) && (25..=30).contains(&prefix) {
        ChannelKind::Alipay
    } else if len == 19 && prefix == 62 {
        ChannelKind::Unionpay
    } else {
        return Err(PayCodeError::UnknownShape {
            digits: len,
            prefix: digits.chars().take(2).collect(),
        });
    };
    Ok((kind, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channels_shape_is_recognised() {
        let ok = |code: &str, kind| assert_eq!(classify(code).map(|c| c.0), Ok(kind), "{code}");
        for p in 10..=15 {
            ok(&format!("{p}3456789012345678"), ChannelKind::Wechat);
        }
        for p in 25..=30 {
            for len in 16..=24 {
                ok(&format!("{p}{}", "1".repeat(len - 2)), ChannelKind::Alipay);
            }
        }
        ok(" 134567890123456789\n", ChannelKind::Wechat);
        ok("6212345678901234567", ChannelKind::Unionpay);
        assert_eq!(
            classify_for_till("6212345678901234567", true),
            Ok((ChannelKind::Unionpay, "6212345678901234567".to_owned()))
        );
        assert_eq!(
            classify_for_till("134567890123456789", false).map(|c| c.0),
            Ok(ChannelKind::Wechat)
        );
        ok("１３４５６７８９０１２３４５６７８９", ChannelKind::Wechat);
        assert_eq!(
            classify("１３４５６７８９０１２３４５６７８９").map(|c| c.1),
            Ok("134567890123456789".to_owned())
        );
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        assert_eq!(
            classify_for_till("6212345678901234567", false),
            Err(PayCodeError::UnionpayNotEnabled)
        );
        assert_eq!(classify(""), Err(PayCodeError::Empty));
        assert_eq!(classify("   "), Err(PayCodeError::Empty));
        assert_eq!(classify("13456789012345678a"), Err(PayCodeError::NotDigits));
        assert_eq!(classify("1345-6789"), Err(PayCodeError::NotDigits));
        for bad in [
            "16345678901234567",         // WeChat prefix, 17 digits
            "1634567890123456789",       // WeChat prefix, 19 digits
            "183456789012345678",        // 18 digits starting 18
            "283456789012345",           // Alipay prefix, 15 digits
            "2834567890123456789012345", // 25 digits
            "313456789012345678",        // starts 31
            "621234567890123456",        // UnionPay prefix, 18 digits
            "0934567890123456",
        ] {
            assert!(
                matches!(classify(bad), Err(PayCodeError::UnknownShape { .. })),
                "{bad}: {:?}",
                classify(bad)
            );
        }
    }
}
