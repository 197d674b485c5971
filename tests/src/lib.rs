//! The harness for end-to-end tests of the real desktop app: an X display
//! (Xvfb unless one is given), `tauri-driver` (which starts WebKitWebDriver
//! and the app binary), a WebDriver session, screenshots saved as artifacts,
//! and the channel simulator on loopback.
//!
//! Nothing here skips: a missing tool or binary is an error that says what
//! to install or build.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// End-to-end sessions run one at a time: each starts a WebKit process and
/// the app, which is plenty for two cores.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The workspace root (this package lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where screenshots go: `artifacts/e2e/` in the workspace.
pub fn artifacts_dir() -> PathBuf {
    workspace_root().join("artifacts").join("e2e")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The debug app binary, built by `cargo build -p shouyin-app`.
pub fn app_binary() -> Result<PathBuf> {
    let path = std::env::var_os("SHOUYIN_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug").join("shouyin-app"));
    if !path.is_file() {
        bail!(
            "the app binary {} is missing: build it first with `cargo build -p shouyin-app` (make test does)",
            path.display()
        );
    }
    Ok(path)
}

/// The debug `shouyin` CLI, built by `cargo build -p shouyin-cli`.
pub fn cli_binary() -> Result<PathBuf> {
    let path = target_dir().join("debug").join("shouyin");
    if !path.is_file() {
        bail!(
            "the CLI binary {} is missing: build it first with `cargo build -p shouyin-cli` (make test does)",
            path.display()
        );
    }
    Ok(path)
}

fn tauri_driver() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SHOUYIN_TAURI_DRIVER").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/shouyin/tools/bin/tauri-driver");
    if cached.is_file() {
        return Ok(cached);
    }
    which("tauri-driver").ok_or_else(|| {
        anyhow!("tauri-driver is missing: run scripts/setup.sh (cargo install tauri-driver --version ^2 --locked)")
    })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// An X display for the app: `$SHOUYIN_E2E_DISPLAY`, or a private Xvfb
/// started once for the whole test binary (and stopped when it ends).
pub fn display() -> Result<String> {
    static DISPLAY: OnceLock<Result<String, String>> = OnceLock::new();
    DISPLAY
        .get_or_init(|| start_xvfb().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Whether display `:n` is taken: its lock file names a live process. A
/// lock left by a server that died is stale, and Xvfb replaces it itself.
fn display_in_use(n: u32) -> bool {
    match std::fs::read_to_string(format!("/tmp/.X{n}-lock")) {
        Ok(pid) => match pid.trim().parse::<u32>() {
            Ok(pid) => Path::new(&format!("/proc/{pid}")).exists(),
            Err(_) => true,
        },
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

fn start_xvfb() -> Result<String> {
    if let Ok(d) = std::env::var("SHOUYIN_E2E_DISPLAY") {
        return Ok(d);
    }
    let xvfb = which("Xvfb")
        .ok_or_else(|| anyhow!("Xvfb is missing: apt-get install xvfb (scripts/setup.sh)"))?;
    for n in 140..200 {
        if display_in_use(n) {
            continue;
        }
        let display = format!(":{n}");
        // A test binary about a screen size sets SHOUYIN_E2E_SCREEN
        // (e.g. 1366x768x24) before its first app starts.
        let screen =
            std::env::var("SHOUYIN_E2E_SCREEN").unwrap_or_else(|_| "1440x900x24".to_owned());
        // A watchdog shell stops the server when this test binary ends, so
        // no display outlives its tests (a static is never dropped).
        let child = Command::new("sh")
            .args([
                "-c",
                "\"$0\" \"$@\" & x=$!; \
                 while kill -0 \"$SHOUYIN_TEST_PID\" 2>/dev/null && kill -0 $x 2>/dev/null; do sleep 1; done; \
                 kill $x 2>/dev/null",
            ])
            .arg(&xvfb)
            .env("SHOUYIN_TEST_PID", std::process::id().to_string())
            .args([
                display.as_str(),
                "-screen",
                "0",
                screen.as_str(),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb")?;
        // Xvfb writes its socket when ready.
        let socket = format!("/tmp/.X11-unix/X{n}");
        let started = Instant::now();
        while !Path::new(&socket).exists() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("Xvfb on {display} did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The watchdog lives as long as the test binary, and no longer.
        std::mem::forget(child);
        return Ok(display);
    }
    bail!("no free X display number for Xvfb")
}

/// How long one WebDriver call may take.
const CALL_LIMIT: Duration = Duration::from_secs(15);

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running app driven through WebDriver.
#[derive(Debug)]
pub struct App {
    driver: Child,
    pub client: Client,
    pub data_dir: PathBuf,
    display: String,
}

impl App {
    /// Start the app with its ledger in `data_dir` and extra environment,
    /// and log in as the demo cashier 王芳 (PIN 1111).
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Result<App> {
        let app = App::launch(data_dir, env).await?;
        app.login("收银员 王芳", "1111").await?;
        Ok(app)
    }

    /// Log in on the till's PIN screen as someone who lands on the till.
    pub async fn login(&self, name: &str, pin: &str) -> Result<()> {
        self.login_to(name, pin, "[data-testid=amount]").await
    }

    /// Log in and wait for `landing` (an accountant lands on the reports).
    pub async fn login_to(&self, name: &str, pin: &str, landing: &str) -> Result<()> {
        self.click(&format!("[data-testid=login-user][data-name='{name}']"))
            .await?;
        for d in pin.chars() {
            self.click(&format!("[data-testid='pin-{d}']")).await?;
        }
        self.click("[data-testid=login-submit]").await?;
        self.wait_for(landing, Duration::from_secs(15)).await?;
        Ok(())
    }

    /// Log out from the header, back to the PIN screen.
    pub async fn logout(&self) -> Result<()> {
        self.click("[data-testid=logout]").await?;
        self.wait_for("[data-testid=login-user]", Duration::from_secs(15))
            .await?;
        Ok(())
    }

    /// Call a backend command from the page, as the UI would (or as a
    /// script in the page could): `{"ok": value}` or `{"err": error}`.
    pub async fn invoke(&self, command: &str, args: Value) -> Result<Value> {
        let script = "const [cmd, args, done] = arguments; \
            window.__TAURI_INTERNALS__.invoke(cmd, args).then((v) => done({ ok: v }), (e) => done({ err: e }));";
        let call = self
            .client
            .execute_async(script, vec![json!(command), args]);
        tokio::time::timeout(CALL_LIMIT, call)
            .await
            .map_err(|_| anyhow!("invoking {command} timed out"))?
            .with_context(|| format!("invoking {command}"))
    }

    /// Start the app without logging in.
    pub async fn launch(data_dir: &Path, env: &[(&str, &str)]) -> Result<App> {
        let app = app_binary()?;
        let driver_bin = tauri_driver()?;
        if which("WebKitWebDriver").is_none() && !Path::new("/usr/bin/WebKitWebDriver").exists() {
            bail!(
                "WebKitWebDriver is missing: apt-get install webkit2gtk-driver (scripts/setup.sh)"
            );
        }
        let display = display()?;
        let port = free_port()?;
        let native = free_port()?;
        let mut cmd = Command::new(driver_bin);
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("DISPLAY", &display)
        .env("SHOUYIN_DATA_DIR", data_dir)
        // The app's own pin, not the system locale (which may not exist on
        // the machine); a test can override it through `env`.
        .env("SHOUYIN_LANG", "zh")
        // The demo store and its demo staff, as `make run` starts it; a test
        // of a real store's first start passes SHOUYIN_DEMO=0.
        .env("SHOUYIN_DEMO", "1")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut driver = cmd.spawn().context("cannot start tauri-driver")?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                bail!("tauri-driver did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Two TLS providers are linked (fantoccini's and reqwest's); the
        // session is plain HTTP on loopback, but rustls wants one chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert("tauri:options".into(), json!({ "application": app }));
        let mut builder = ClientBuilder::rustls().context("WebDriver client")?;
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{port}");
        let client = tokio::time::timeout(Duration::from_secs(60), builder.connect(&url))
            .await
            .map_err(|_| {
                anyhow!("the app did not start a WebDriver session within 60 s (display {display})")
            })?
            .context("cannot open a WebDriver session with the app")?;
        let app = App {
            driver,
            client,
            data_dir: data_dir.to_owned(),
            display,
        };
        app.wait_for("[data-testid=where]", Duration::from_secs(30))
            .await?;
        Ok(app)
    }

    /// One WebDriver lookup, bounded: a stuck driver is an error, not a hang.
    async fn find_once(&self, css: &str) -> Option<Element> {
        match tokio::time::timeout(CALL_LIMIT, self.client.find(Locator::Css(css))).await {
            Ok(Ok(e)) => Some(e),
            _ => None,
        }
    }

    async fn text_of(e: &Element) -> Option<String> {
        match tokio::time::timeout(CALL_LIMIT, e.text()).await {
            Ok(Ok(t)) => Some(t),
            _ => None,
        }
    }

    /// The first element matching `css` once it exists.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_once(css).await {
                return Ok(e);
            }
            if started.elapsed() > timeout {
                bail!("'{css}' did not appear within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until `css` exists and its text contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> Result<Element> {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_once(css).await {
                if App::text_of(&e).await.is_some_and(|t| t.contains(text)) {
                    return Ok(e);
                }
            }
            if started.elapsed() > timeout {
                bail!("'{css}' did not show '{text}' within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let e = self.wait_for(css, Duration::from_secs(10)).await?;
        let clicked = tokio::time::timeout(CALL_LIMIT, e.click())
            .await
            .map_err(|_| anyhow!("clicking '{css}' timed out"))?;
        if clicked.is_err() {
            // WebKitWebDriver refuses some elements (table rows) as not
            // interactable; the page's own click() is what a tap does.
            let script = self.client.execute(
                "const el = document.querySelector(arguments[0]); if (!el) throw new Error('gone'); el.click();",
                vec![json!(css)],
            );
            tokio::time::timeout(CALL_LIMIT, script)
                .await
                .map_err(|_| anyhow!("clicking '{css}' timed out"))?
                .with_context(|| format!("clicking '{css}'"))?;
        }
        Ok(())
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String> {
        let e = self.wait_for(css, Duration::from_secs(10)).await?;
        App::text_of(&e)
            .await
            .ok_or_else(|| anyhow!("reading '{css}' timed out"))
    }

    /// Replace the text of an input field.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        // A value the page fills in late (a default folder) can land between
        // the clear and the typing; type again while the field does not hold
        // `text` (a field that reformats what is typed is left as typed).
        for _ in 0..3 {
            let field = self.wait_for(css, Duration::from_secs(10)).await?;
            field.clear().await?;
            field.send_keys(text).await?;
            // Text with a key such as Enter acts on the page: never again.
            if text.chars().any(|c| ('\u{E000}'..='\u{F8FF}').contains(&c)) {
                return Ok(());
            }
            match field.prop("value").await {
                Ok(value) if value.as_deref() != Some(text) => {}
                _ => return Ok(()),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Key an amount on the on-screen keypad.
    pub async fn key_amount(&self, amount: &str) -> Result<()> {
        for c in amount.chars() {
            self.click(&format!("[data-testid='key-{c}']")).await?;
        }
        Ok(())
    }

    /// Press keys, by their `KeyboardEvent.key` names ("a", "Escape",
    /// "Enter"), as the keyboard would deliver them to the page.
    pub async fn press(&self, keys: &[&str]) -> Result<()> {
        let script = self.client.execute(
                "for (const k of arguments[0]) { window.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true})); }",
                vec![json!(keys)],
            );
        tokio::time::timeout(CALL_LIMIT, script)
            .await
            .map_err(|_| anyhow!("pressing {keys:?} timed out"))??;
        Ok(())
    }

    /// Save a screenshot as `artifacts/e2e/<name>.png`. It is taken of the
    /// app's private X display rather than through WebDriver: WebKitWebDriver
    /// sometimes stops answering after a screenshot command.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        self.screenshot_display(name).await
    }

    /// Photograph the whole X display the app is on (every window of it)
    /// as `artifacts/e2e/<name>.png`.
    pub async fn screenshot_display(&self, name: &str) -> Result<PathBuf> {
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        let status = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(&path)
            .status()
            .context("ImageMagick's import is needed (apt-get install imagemagick)")?;
        if !status.success() {
            bail!("could not photograph the display for {name}");
        }
        Ok(path)
    }

    /// Size the app's window (the outer size; the display has no window
    /// manager, so no decorations) and wait until the page has reflowed.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        tokio::time::timeout(CALL_LIMIT, self.client.set_window_size(width, height))
            .await
            .map_err(|_| anyhow!("sizing the window timed out"))??;
        let started = Instant::now();
        loop {
            let v = self
                .client
                .execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await?;
            if v == json!([width, height]) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the window is {v}, not {width}×{height}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    /// What is wrong with the layout for someone using the window as it
    /// is: each selector must match an element that is wholly inside the
    /// viewport, and the page must not scroll sideways. Empty when all is
    /// well.
    pub async fn layout_problems(&self, selectors: &[&str]) -> Result<Vec<String>> {
        let script = "const sels = arguments[0]; const out = []; \
            const w = window.innerWidth, h = window.innerHeight; \
            for (const s of sels) { const el = document.querySelector(s); \
              if (!el) { out.push(s + ': missing'); continue; } \
              const r = el.getBoundingClientRect(); \
              if (r.width === 0 || r.height === 0) out.push(s + ': not shown'); \
              else if (r.left < -0.5 || r.top < -0.5 || r.right > w + 0.5 || r.bottom > h + 0.5) \
                out.push(`${s}: at ${Math.round(r.left)},${Math.round(r.top)}–${Math.round(r.right)},${Math.round(r.bottom)} outside ${w}×${h}`); } \
            const de = document.documentElement; \
            if (de.scrollWidth > de.clientWidth + 0.5 || document.body.scrollWidth > document.body.clientWidth + 0.5) \
              out.push(`sideways scroll: ${de.scrollWidth} > ${de.clientWidth}`); \
            for (const el of document.querySelectorAll('main *')) { \
              const st = getComputedStyle(el); \
              if (el.scrollWidth > el.clientWidth + 1 && (st.overflowX === 'auto' || st.overflowX === 'scroll')) \
                out.push(`sideways scroll inside ${el.tagName.toLowerCase()}.${el.className}`); } \
            return out;";
        let v = tokio::time::timeout(
            CALL_LIMIT,
            self.client.execute(script, vec![json!(selectors)]),
        )
        .await
        .map_err(|_| anyhow!("measuring the layout timed out"))??;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Photograph only the app's main window (its place on the display) as
    /// `artifacts/e2e/<name>.png`.
    pub async fn screenshot_window(&self, name: &str) -> Result<PathBuf> {
        let rect = tokio::time::timeout(CALL_LIMIT, self.client.get_window_rect())
            .await
            .map_err(|_| anyhow!("reading the window's place timed out"))??;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        let (x, y, w, h) = rect;
        let status = Command::new("import")
            .args(["-display", &self.display, "-window", "root", "-crop"])
            .arg(format!("{w}x{h}+{x}+{y}"))
            .arg("+repage")
            .arg(&path)
            .status()
            .context("ImageMagick's import is needed (apt-get install imagemagick)")?;
        if !status.success() {
            bail!("could not photograph the window for {name}");
        }
        Ok(path)
    }

    /// End the session and stop the app. WebKitWebDriver sometimes never
    /// answers the session's deletion; the processes are stopped regardless.
    pub async fn quit(self) -> Result<()> {
        let closed =
            tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        drop(self);
        match closed {
            Ok(r) => r.map_err(|e| anyhow!("closing the session: {e}")),
            Err(_) => Ok(()),
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // tauri-driver, and what it started (WebKitWebDriver, the app),
        // which would otherwise outlive it.
        let mut doomed = descendants(self.driver.id());
        doomed.reverse();
        for pid in doomed {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The till's shift and cash sales, as a cashier does them on screen.
impl App {
    /// Answer the till's 开班 dialog with the float, and wait until it is gone.
    pub async fn open_shift(&self, float: &str) -> Result<()> {
        self.wait_for("[data-testid=shift-open-dialog]", Duration::from_secs(15))
            .await?;
        self.fill("[data-testid=till-float]", float).await?;
        self.click("[data-testid=till-shift-open]").await?;
        self.wait_gone("[data-testid=shift-open-dialog]", Duration::from_secs(15))
            .await
    }

    /// A cash sale at the till: the amount on the keypad, cash, the cash
    /// handed over, confirm; waits for the success line.
    pub async fn cash_sale(&self, amount: &str, tendered: &str) -> Result<()> {
        self.key_amount(amount).await?;
        self.click("[data-testid=channel-cash]").await?;
        self.wait_for("[data-testid=cash-tender]", Duration::from_secs(10))
            .await?;
        self.fill("[data-testid=tendered]", tendered).await?;
        self.click("[data-testid=tender-confirm]").await?;
        self.wait_for("[data-testid=cash-done]", Duration::from_secs(15))
            .await?;
        Ok(())
    }

    /// Wait until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        while self.find_once(css).await.is_some() {
            if started.elapsed() > timeout {
                bail!("'{css}' was still there after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// An element's box on the page: x, y, width, height.
    pub async fn rect(&self, css: &str) -> Result<(f64, f64, f64, f64)> {
        let e = self.wait_for(css, Duration::from_secs(10)).await?;
        tokio::time::timeout(CALL_LIMIT, e.rectangle())
            .await
            .map_err(|_| anyhow!("measuring '{css}' timed out"))?
            .with_context(|| format!("measuring '{css}'"))
    }
}

/// Every process below `root`, parents before children (from /proc).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (child, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            if *child > 1 && !out.contains(child) {
                out.push(*child);
                frontier.push(*child);
            }
        }
    }
    out
}

/// The channel simulator on a loopback port, for the app to pay against.
#[derive(Debug)]
pub struct Sim {
    pub base: String,
    pub dir: PathBuf,
    http: reqwest::Client,
    /// Keeps the simulator running.
    kit: shouyin_testkit::Sim,
}

impl Sim {
    pub async fn start(dir: &Path) -> Result<Sim> {
        let kit = shouyin_testkit::Sim::start_in(dir).await;
        Ok(Sim {
            base: kit.base.clone(),
            dir: dir.to_owned(),
            http: kit.http.clone(),
            kit,
        })
    }

    /// The simulator's credentials, in the channels file's shape.
    pub fn credentials_path(&self) -> PathBuf {
        self.kit.credentials_path()
    }

    /// Give an app data directory the simulator's credentials as its channels file.
    pub fn configure(&self, data_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(data_dir)?;
        std::fs::copy(self.kit.credentials_path(), data_dir.join("channels.json"))?;
        Ok(())
    }

    /// As [`Sim::configure`], leaving out one channel's section (a till
    /// without, say, UnionPay).
    pub fn configure_without(&self, data_dir: &Path, section: &str) -> Result<()> {
        std::fs::create_dir_all(data_dir)?;
        let mut creds = self.kit.credentials();
        if let Some(obj) = creds.as_object_mut() {
            obj.remove(section);
        }
        std::fs::write(data_dir.join("channels.json"), creds.to_string())?;
        Ok(())
    }

    /// The simulator's payment notification attempts, oldest first.
    pub async fn notifications(&self) -> Result<Vec<Value>> {
        let v: Value = self
            .http
            .get(format!("{}/_sim/notifications", self.base))
            .send()
            .await?
            .json()
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub async fn trades(&self) -> Result<Vec<Value>> {
        let v: Value = self
            .http
            .get(format!("{}/_sim/trades", self.base))
            .send()
            .await?
            .json()
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// The customer scans the code (opens it on the customer page).
    pub async fn scan(&self, order_no: &str) -> Result<()> {
        let trades = self.trades().await?;
        // A UnionPay trade is kept under the number without its `_`.
        let compact: String = order_no.chars().filter(|c| *c != '_').collect();
        let trade = trades
            .iter()
            .find(|t| t["out_trade_no"] == order_no || t["out_trade_no"] == compact.as_str())
            .ok_or_else(|| anyhow!("no trade {order_no} at the simulator"))?;
        let code = trade["qr_code"].as_str().unwrap_or_default().to_owned();
        self.http
            .get(format!("{}/pay", self.base))
            .query(&[("code", code.as_str())])
            .send()
            .await?;
        Ok(())
    }

    /// Inject faults on the channel endpoints (`{"drop_rate": 1.0}`, …).
    pub async fn faults(&self, faults: Value) -> Result<()> {
        self.kit.faults(faults).await;
        Ok(())
    }

    pub async fn clear_faults(&self) -> Result<()> {
        self.kit.clear_faults().await;
        Ok(())
    }

    /// The customer's phone shows a fresh payment code (付款码).
    pub async fn paycode(&self, channel: &str, password: bool) -> Result<String> {
        Ok(self.kit.paycode(channel, password, None).await)
    }

    /// A payment code whose owner can spend only `balance_fen`.
    pub async fn paycode_with_balance(&self, channel: &str, balance_fen: i64) -> Result<String> {
        Ok(self.kit.paycode(channel, false, Some(balance_fen)).await)
    }

    /// The customer confirms (`"confirm"`) or declines on the phone.
    pub async fn phone(&self, code: &str, action: &str) -> Result<reqwest::StatusCode> {
        Ok(self.kit.phone(code, action).await)
    }

    pub async fn pay(&self, order_no: &str) -> Result<()> {
        let r = self
            .http
            .post(format!("{}/_sim/trades/{order_no}/pay", self.base))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "the simulator refused to pay {order_no}: {}",
                r.text().await?
            );
        }
        Ok(())
    }
}
