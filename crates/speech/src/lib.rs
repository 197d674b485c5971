//! Spoken payment announcements (语音播报): the words and the voice.
//!
//! [`money_words`] reads an amount in fen the way Chinese payment speakers
//! do ("十二元三角", "一万零一元零一分"); [`announcement`] puts the channel
//! in front ("支付宝到账…", "微信收款…"); [`Voice`] speaks it, or renders it
//! to a WAV file, with espeak-ng's Mandarin voice (Debian's `espeak-ng`).
//! When to announce is the caller's decision; this crate only says it.

use std::path::Path;
use std::process::{Command, Stdio};

const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// The payment channel as it is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    Alipay,
    Wechat,
    Unionpay,
    Cash,
}

/// What the till says when a payment arrives.
pub fn announcement(payer: Payer, fen: i64) -> String {
    let amount = money_words(fen);
    match payer {
        Payer::Alipay => format!("支付宝到账{amount}"),
        Payer::Wechat => format!("微信收款{amount}"),
        Payer::Unionpay => format!("云闪付到账{amount}"),
        Payer::Cash => format!("现金收款{amount}"),
    }
}

/// An amount in fen as spoken Chinese money: yuan (元), jiao (角), fen (分).
/// Negative amounts are read as their size (a refund is announced by
/// its own words, not by a minus).
pub fn money_words(fen: i64) -> String {
    let fen = fen.unsigned_abs();
    let yuan = fen / 100;
    let jiao = (fen / 10 % 10) as usize;
    let cents = (fen % 10) as usize;
    let mut out = String::new();
    if yuan > 0 {
        out.push_str(&integer_words(yuan));
        out.push('元');
    }
    if jiao > 0 {
        out.push_str(DIGITS[jiao]);
        out.push('角');
    }
    if cents > 0 {
        if yuan > 0 && jiao == 0 {
            out.push('零');
        }
        out.push_str(DIGITS[cents]);
        out.push('分');
    }
    if out.is_empty() {
        out.push_str("零元");
    }
    out
}

/// A whole number in Chinese words, grouped by 万 and 亿, with 零 for the
/// gaps and "十" rather than "一十" at the start.
pub fn integer_words(n: u64) -> String {
    if n == 0 {
        return DIGITS[0].to_owned();
    }
    // Groups of four digits from the top: 万亿, 亿, 万, units.
    let groups = [
        (n / 1_000_000_000_000, "万亿"),
        (n / 100_000_000 % 10_000, "亿"),
        (n / 10_000 % 10_000, "万"),
        (n % 10_000, ""),
    ];
    let mut out = String::new();
    let mut zero_pending = false;
    for (g, unit) in groups {
        if g == 0 {
            if !out.is_empty() {
                zero_pending = true;
            }
            continue;
        }
        if !out.is_empty() && (zero_pending || g < 1000) {
            out.push('零');
        }
        zero_pending = false;
        out.push_str(&group_words(g));
        out.push_str(unit);
    }
    if out.starts_with("一十") {
        out = out.replacen("一十", "十", 1);
    }
    out
}

/// 1..=9999 in words, with 零 for inner zeros ("一千零五").
fn group_words(g: u64) -> String {
    let places = [
        (g / 1000, "千"),
        (g / 100 % 10, "百"),
        (g / 10 % 10, "十"),
        (g % 10, ""),
    ];
    let mut out = String::new();
    let mut zero = false;
    for (d, unit) in places {
        if d == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        out.push_str(DIGITS[d as usize]);
        out.push_str(unit);
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("the speech engine {program} is not installed (Debian package espeak-ng): {source}")]
    NotInstalled {
        program: String,
        source: std::io::Error,
    },
    #[error("the speech engine failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
}

/// espeak-ng with its Mandarin voice.
#[derive(Debug, Clone)]
pub struct Voice {
    pub program: String,
    /// espeak-ng's voice name: `cmn` is Mandarin.
    pub voice: String,
    /// Loudness 0–100 (%), mapped onto espeak-ng's amplitude 0–200.
    pub volume: u8,
    /// Words per minute.
    pub speed: u16,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            program: "espeak-ng".into(),
            voice: "cmn".into(),
            volume: 80,
            speed: 150,
        }
    }
}

impl Voice {
    fn command(&self, text: &str, wav: Option<&Path>) -> Command {
        let mut c = Command::new(&self.program);
        c.arg("-v")
            .arg(&self.voice)
            .arg("-a")
            .arg((u32::from(self.volume.min(100)) * 2).to_string())
            .arg("-s")
            .arg(self.speed.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(path) = wav {
            c.arg("-w").arg(path);
        }
        c.arg("--").arg(text);
        c
    }

    fn run(&self, mut c: Command) -> Result<(), SpeechError> {
        let out = c.output().map_err(|source| SpeechError::NotInstalled {
            program: self.program.clone(),
            source,
        })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SpeechError::Failed {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// Say `text` on the sound card (blocks until said).
    pub fn speak(&self, text: &str) -> Result<(), SpeechError> {
        self.run(self.command(text, None))
    }

    /// Render `text` to a WAV file instead of the sound card.
    pub fn render_wav(&self, text: &str, path: &Path) -> Result<(), SpeechError> {
        self.run(self.command(text, Some(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_chinese_money() {
        let cases = [
            (5, "五分"),
            (50, "五角"),
            (55, "五角五分"),
            (100, "一元"),
            (1000, "十元"),
            (1230, "十二元三角"),
            (1205, "十二元零五分"),
            (2000, "二十元"),
            (10010, "一百元一角"),
            (11000, "一百一十元"),
            (100_000, "一千元"),
            (100_500, "一千零五元"),
            (1_000_101, "一万零一元零一分"),
            (1_000_000, "一万元"),
            (1_050_000, "一万零五百元"),
            (1_200_000, "一万二千元"),
            (10_000_000, "十万元"),
            (100_001_000, "一百万零一十元"),
            (12_345_678_900, "一亿二千三百四十五万六千七百八十九元"),
            (10_000_000_000, "一亿元"),
            (10_000_010_000, "一亿零一百元"),
            (0, "零元"),
        ];
        for (fen, words) in cases {
            assert_eq!(money_words(fen), words, "{fen} fen");
        }
    }

    #[test]
    fn each_channel_has_its_words() {
        assert_eq!(announcement(Payer::Alipay, 1230), "支付宝到账十二元三角");
        assert_eq!(announcement(Payer::Wechat, 1230), "微信收款十二元三角");
        assert_eq!(announcement(Payer::Cash, 5), "现金收款五分");
    }
}
