//! The virtual printer over real TCP: a job sent to it comes out as text
//! and a PNG picture, numbered, and a broken job is reported, not dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use shouyin_escpos::encode::Justify;
use shouyin_escpos::{Paper, Receipt};
use shouyin_vprinter::{run, Fonts, JobDir};
use tokio::io::AsyncWriteExt;

async fn wait_for(path: &std::path::Path) -> String {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn jobs_sent_over_tcp_are_written_as_text_and_picture() {
    let dir = tempfile::tempdir().unwrap();
    let fonts = Arc::new(Fonts::system().expect("fonts-noto-cjk is installed by scripts/setup.sh"));
    let jobs = Arc::new(JobDir::open(dir.path(), fonts).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, jobs, async {
        let _ = stopped.await;
    }));

    let mut r = Receipt::new(Paper::Mm58);
    r.drawer_kick()
        .justify(Justify::Centre)
        .bold(true)
        .line("演示门店")
        .bold(false)
        .justify(Justify::Left)
        .row("金额", "￥12.30");
    r.barcode("T01-0001").unwrap();
    r.cut();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(r.bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    drop(s);

    let text = wait_for(&dir.path().join("job-0001.txt")).await;
    assert!(text.contains("演示门店  [bold]"), "{text}");
    assert!(
        text.contains(&format!("金额{}￥12.30", " ".repeat(32 - 4 - 7))),
        "{text}"
    );
    assert!(text.contains("[CODE128 T01-0001]"), "{text}");
    assert!(
        text.contains("[CUT]") && text.contains("[DRAWER pin 2 50ms/500ms]"),
        "{text}"
    );
    let png = image::load_from_memory(&std::fs::read(dir.path().join("job-0001.png")).unwrap())
        .unwrap()
        .to_luma8();
    assert_eq!(
        png.width(),
        32 * 12 + 24,
        "a 58 mm roll is 384 dots plus margins"
    );
    let dark = png.pixels().filter(|p| p.0[0] < 128).count();
    assert!(
        dark > 2000,
        "the picture shows text and bars: {dark} dark dots"
    );

    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0x1B, 0x70]).await.unwrap();
    drop(s);
    let error = wait_for(&dir.path().join("job-0002.error.txt")).await;
    assert!(error.contains("cut off"), "{error}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
