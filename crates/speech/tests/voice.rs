//! The Mandarin voice rendered to WAV by espeak-ng (installed by
//! scripts/setup.sh): the sound is not silence and more words take longer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shouyin_speech::{announcement, Payer, Voice};

fn render(text: &str, dir: &std::path::Path, name: &str) -> (usize, f64) {
    let path = dir.join(name);
    Voice::default()
        .render_wav(text, &path)
        .expect("espeak-ng renders");
    let mut wav = hound::WavReader::open(&path).expect("a WAV file");
    let samples: Vec<i32> = wav.samples::<i32>().map(|s| s.expect("a sample")).collect();
    let rms = (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt();
    (samples.len(), rms)
}

#[test]
fn announcements_render_to_sound_that_grows_with_the_words() {
    let dir = tempfile::tempdir().unwrap();
    let (short_len, short_rms) = render(&announcement(Payer::Alipay, 5), dir.path(), "short.wav");
    let (long_len, long_rms) = render(
        &announcement(Payer::Alipay, 123_456_789),
        dir.path(),
        "long.wav",
    );
    assert!(
        short_rms > 300.0 && long_rms > 300.0,
        "not silence: rms {short_rms:.0}, {long_rms:.0}"
    );
    assert!(
        long_len > short_len * 2,
        "支付宝到账五分 is {short_len} samples, the long amount {long_len}"
    );
}

#[test]
fn a_missing_engine_is_a_clear_error() {
    let voice = Voice {
        program: "/nonexistent/espeak-ng".into(),
        ..Voice::default()
    };
    let err = voice
        .render_wav("测试", std::path::Path::new("/tmp/x.wav"))
        .unwrap_err();
    assert!(err.to_string().contains("espeak-ng"), "{err}");
}
