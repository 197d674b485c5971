//! Which language the UI starts in.
//!
//! POS images often run with the `C` or `en_US` locale, so the machine's
//! language says little about the shop's. The store's own setting decides
//! first: a store whose time zone lies in a Chinese-speaking region starts in
//! Chinese. An explicit pin (the app's `SHOUYIN_LANG`, used by test harnesses
//! and kiosks) beats everything, including a choice remembered in the UI.

use serde::{Deserialize, Serialize};

/// The languages the UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum UiLanguage {
    Zh,
    En,
}

impl UiLanguage {
    /// Reads a pin such as `zh`, `zh_CN.UTF-8`, `en-US` or `EN`.
    pub fn parse(s: &str) -> Option<UiLanguage> {
        let lower = s.trim().to_ascii_lowercase();
        if lower.starts_with("zh") {
            Some(UiLanguage::Zh)
        } else if lower.starts_with("en") {
            Some(UiLanguage::En)
        } else {
            None
        }
    }

    /// The default for a store in `timezone` (an IANA name), or `None` when
    /// the store's settings say nothing and the system language should decide.
    pub fn for_store_timezone(timezone: &str) -> Option<UiLanguage> {
        const CHINESE_ZONES: [&str; 9] = [
            "Asia/Shanghai",
            "Asia/Chongqing",
            "Asia/Chungking",
            "Asia/Harbin",
            "Asia/Urumqi",
            "Asia/Kashgar",
            "Asia/Hong_Kong",
            "Asia/Macau",
            "Asia/Taipei",
        ];
        const CHINESE_ALIASES: [&str; 4] = ["PRC", "Hongkong", "ROC", "Asia/Macao"];
        (CHINESE_ZONES.contains(&timezone) || CHINESE_ALIASES.contains(&timezone))
            .then_some(UiLanguage::Zh)
    }
}

/// The UI's starting language as the terminal reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct UiLanguageDto {
    /// The language to start in; `None` lets the system language decide.
    pub default: Option<UiLanguage>,
    /// True when the app was started with a pin that beats a remembered choice.
    pub pinned: bool,
}

impl UiLanguageDto {
    pub fn resolve(pin: Option<UiLanguage>, store_timezone: &str) -> UiLanguageDto {
        match pin {
            Some(language) => UiLanguageDto {
                default: Some(language),
                pinned: true,
            },
            None => UiLanguageDto {
                default: UiLanguage::for_store_timezone(store_timezone),
                pinned: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_in_china_starts_in_chinese_whatever_the_machine_locale() {
        for tz in ["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "PRC"] {
            assert_eq!(
                UiLanguageDto::resolve(None, tz),
                UiLanguageDto {
                    default: Some(UiLanguage::Zh),
                    pinned: false
                },
                "{tz}"
            );
        }
    }

    #[test]
    fn a_store_elsewhere_leaves_the_choice_to_the_system_language() {
        for tz in ["Europe/London", "UTC", "America/New_York", ""] {
            assert_eq!(UiLanguageDto::resolve(None, tz).default, None, "{tz}");
        }
    }

    #[test]
    fn a_pin_beats_the_store_and_is_marked_as_such() {
        let en = UiLanguageDto::resolve(UiLanguage::parse("en_US.UTF-8"), "Asia/Shanghai");
        assert_eq!(en.default, Some(UiLanguage::En));
        assert!(en.pinned);
        assert_eq!(UiLanguage::parse("zh"), Some(UiLanguage::Zh));
        assert_eq!(UiLanguage::parse("ZH-cn"), Some(UiLanguage::Zh));
        assert_eq!(UiLanguage::parse("fr_FR"), None);
        assert_eq!(UiLanguage::parse(""), None);
    }
}
