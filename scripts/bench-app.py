#!/usr/bin/env python3
"""Start-up time and memory of the release app beside a minimal Tauri window.

Called by scripts/bench-app.sh once the binaries are built; standard library
only. For each binary, N runs alternating between the binaries:

- WebDriver runs (tauri-driver, which starts WebKitWebDriver, which starts
  the app): from the session request to the first screen a user acts on
  being in the DOM (the app: a user to pick on the login screen; the
  minimal window: its marker line), then drawn on the X screen; they also
  give where that element is and what it looks like when finished. The app
  then logs in as the cashier and is measured again at the sale keypad.
- plain runs, the binary started directly as a user starts it: from spawn
  to that rectangle of the screen showing the finished picture (read every
  10 ms), then memory once settled, summed over the app process and every
  process below it (WebKitWebProcess, WebKitNetworkProcess).

PSS (proportional set size) splits each shared page between the processes
that map it, so another WebKit program running on the machine at the same
time lowers our figure; the script counts such processes and says so.
"""

from __future__ import annotations

import argparse
import http.client as http_client
import ctypes
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

APP_READY_CSS = "[data-testid=login-user]"
MINIMAL_READY_CSS = "[data-testid=ready]"
TARGET_RATIO = 1.2
TARGET_SECONDS = 1.5


@dataclass
class Subject:
    key: str
    label: str
    binary: str
    ready_css: str
    env: dict[str, str] = field(default_factory=dict)
    data_dir: bool = False
    # A cashier's name and PIN: after the first screen, log in and measure
    # again at the sale keypad.
    login: tuple[str, str] | None = None


@dataclass
class Memory:
    pss_kb: int
    rss_kb: int
    uss_kb: int
    per_process: list[tuple[str, int, int, int]]  # name, pss, rss, uss (kB)
    by_mapping: dict[str, int]  # category -> pss kB, summed over processes


# --- processes and memory -------------------------------------------------


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The name is in parentheses and may hold spaces: split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def find_by_exe(root: int, binary: str) -> int | None:
    want = os.path.realpath(binary)
    for p in tree(root):
        try:
            if os.path.realpath(f"/proc/{p}/exe") == want:
                return p
        except OSError:
            continue
    return None


def rollup(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def mapping_category(name: str) -> str:
    if not name:
        return "anonymous (heaps, JS, caches)"
    if name == "[heap]":
        return "[heap] (malloc brk)"
    if name.startswith("[stack"):
        return "stacks"
    if "/fonts/" in name or name.endswith((".ttc", ".ttf", ".otf")):
        return "font files"
    if "libwebkit" in name or "libjavascriptcore" in name:
        return "libwebkit2gtk + libjavascriptcoregtk"
    if "fontconfig" in name or name.endswith("-le64.cache-9"):
        return "fontconfig caches"
    if "/memfd:" in name or name.startswith("/memfd") or "(deleted)" in name:
        return "shared memory (memfd, deleted files)"
    if name.startswith("/dev/"):
        return "devices (dri, shm)"
    if ".so" in name:
        return "other shared libraries"
    if name.startswith("["):
        return "kernel ([vvar], [vdso])"
    if "/shouyin" in name:
        return "the app's own executable"
    return "other files (" + Path(name).name + ")" if len(name) < 60 else "other files"


def smaps_by_category(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    current = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 5)
                if not first:
                    continue
                if "-" in first[0] and not first[0].endswith(":"):
                    current = mapping_category(first[5].strip() if len(first) > 5 else "")
                elif first[0] == "Pss:" and current is not None:
                    out[current] = out.get(current, 0) + int(first[1])
    except OSError:
        pass
    return out


def memory_of(root: int) -> Memory:
    pss = rss = uss = 0
    per, by_map = [], {}
    for p in tree(root):
        r = rollup(p)
        if not r:
            continue
        p_uss = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        pss += r.get("Pss", 0)
        rss += r.get("Rss", 0)
        uss += p_uss
        per.append((proc_name(p), r.get("Pss", 0), r.get("Rss", 0), p_uss))
        for k, v in smaps_by_category(p).items():
            by_map[k] = by_map.get(k, 0) + v
    return Memory(pss, rss, uss, per, by_map)


def other_webkit_processes(ours: set[int]) -> int:
    """WebKit processes on the machine that are not ours (other programs')."""
    return sum(
        1
        for entry in os.listdir("/proc")
        if entry.isdigit() and int(entry) not in ours and proc_name(int(entry)).startswith("WebKit")
    )


# --- X server and WebDriver -----------------------------------------------


class XImage(ctypes.Structure):
    # The leading fields of Xlib's XImage, up to what is read here.
    _fields_ = [
        ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int), ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)), ("byte_order", ctypes.c_int), ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
    ]


class Screen:
    """Reads pixels of the X display, to see when an element is painted:
    with compositing, WebKit may show a blank window for a while after the
    DOM is complete, and a cashier cannot press what is not drawn."""

    def __init__(self, display: str):
        self.x = ctypes.CDLL("libX11.so.6")
        self.x.XOpenDisplay.restype = ctypes.c_void_p
        self.x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x.XGetImage.restype = ctypes.POINTER(XImage)
        self.x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
        self.x.XFree.argtypes = [ctypes.c_void_p]
        self.dpy = self.x.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open display {display}")
        self.root = self.x.XDefaultRootWindow(self.dpy)

    def grab(self, rect: tuple[int, int, int, int]) -> bytes:
        """The pixels of a rectangle of the screen (x, y, width, height)."""
        x, y, w, h = rect
        all_planes, z_pixmap = 0xFFFFFFFF, 2
        img = self.x.XGetImage(self.dpy, self.root, x, y, w, h, all_planes, z_pixmap)
        if not img:
            return b""
        try:
            i = img.contents
            step = i.bits_per_pixel // 8
            raw = ctypes.string_at(i.data, i.bytes_per_line * i.height)
            return b"".join(raw[r * i.bytes_per_line: r * i.bytes_per_line + i.width * step] for r in range(i.height))
        finally:
            self.x.XFree(img.contents.data)
            self.x.XFree(img)

    @staticmethod
    def drawn(pixels: bytes) -> bool:
        """Something is drawn: more than two colours (text is antialiased);
        a blank or half-set-up window is one or two."""
        seen = set()
        for k in range(0, len(pixels), 4):
            seen.add(pixels[k: k + 4])
            if len(seen) > 2:
                return True
        return False


def same_picture(a: bytes, b: bytes) -> bool:
    """The same picture, give or take antialiasing: software GL does not
    draw text edges identically every run, so 2% of pixels may differ
    (a blank or still-loading screen differs in far more)."""
    if len(a) != len(b) or not a:
        return False
    pixels = len(a) // 4
    differ = sum(1 for k in range(0, len(a), 4) if a[k: k + 4] != b[k: k + 4])
    return differ <= pixels * 0.02


def window_origin(pid: int, display: str) -> tuple[int, int]:
    """Where the app's window sits on the screen (0,0 under a bare Xvfb of
    the window's size, but read rather than assumed)."""
    env = dict(os.environ, DISPLAY=display)
    wins = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid)], env=env,
                          capture_output=True, text=True).stdout.split()
    for win in wins:
        out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", win], env=env,
                             capture_output=True, text=True).stdout
        geo = dict(line.split("=", 1) for line in out.split())
        if int(geo.get("WIDTH", 0)) >= 1000:
            return int(geo["X"]), int(geo["Y"])
    return 0, 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_xvfb() -> tuple[subprocess.Popen, str]:
    for n in range(140, 400):
        if os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                return proc, f":{n}"
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    sys.exit("bench-app: cannot start Xvfb on a free display")


def http(method: str, url: str, body: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(4):
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"{}")
            except ValueError:
                return e.code, {}
        except (http_client.RemoteDisconnected, ConnectionResetError):
            # tauri-driver now and then forwards on a pooled connection that
            # WebKitWebDriver has closed ("SendRequest"): the request never
            # arrived, so sending it again is safe.
            if attempt == 3:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def stop(proc: subprocess.Popen) -> None:
    """Stops a process started here and everything it started."""
    if proc.poll() is None:
        for p in reversed(tree(proc.pid)):
            try:
                os.kill(p, signal.SIGTERM)
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            for p in reversed(tree(proc.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            proc.wait()


# --- runs -------------------------------------------------------------------


def fresh_env(display: str, subject: Subject, data: Path | None, compositing: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["DISPLAY"] = display
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("WEBKIT_DISABLE_COMPOSITING_MODE", None)
    if not compositing:
        env["WEBKIT_DISABLE_COMPOSITING_MODE"] = "1"
    env.update(subject.env)
    if data is not None:
        env["SHOUYIN_DATA_DIR"] = str(data)
    return env


def reset_data(seed: Path, run_dir: Path) -> Path:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    shutil.copytree(seed, run_dir)
    return run_dir


ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def find_element(base: str, sid: str, css: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        code, answer = http("POST", f"{base}/session/{sid}/element", {"using": "css selector", "value": css}, 10)
        if code == 200:
            return answer["value"][ELEMENT]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{css} never appeared")
        time.sleep(0.01)


def click(base: str, sid: str, css: str) -> None:
    eid = find_element(base, sid, css)
    code, answer = http("POST", f"{base}/session/{sid}/element/{eid}/click", {}, 10)
    if code != 200:
        raise RuntimeError(f"cannot click {css}: {code} {answer}")


def log_in(base: str, sid: str, login: tuple[str, str]) -> float:
    """Logs in as a cashier would; returns seconds from pressing the login
    button to the sale keypad being in the DOM."""
    name, pin = login
    click(base, sid, f'[data-testid=login-user][data-name="{name}"]')
    for digit in pin:
        click(base, sid, f"[data-testid=pin-{digit}]")
    t0 = time.monotonic()
    click(base, sid, "[data-testid=login-submit]")
    find_element(base, sid, "[data-testid=key-1]")
    return time.monotonic() - t0


@dataclass
class TimedRun:
    in_dom: float  # seconds from the session request to the element in the DOM
    painted: float  # ... to the element drawn on screen
    memory: Memory
    keypad: tuple[float, Memory] | None  # login to sale keypad, memory there
    rect: tuple[int, int, int, int]  # where the element is on screen
    reference: bytes  # its pixels once settled


def timed_run(args, display, screen: Screen, subject: Subject, seed: Path, work: Path,
              compositing: bool) -> TimedRun:
    data = reset_data(seed, work / "run") if subject.data_dir else None
    port, native = free_port(), free_port()
    driver = subprocess.Popen(
        [args.driver, "--port", str(port), "--native-port", str(native)],
        env=fresh_env(display, subject, data, compositing),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.02)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": subject.binary}}}}
        # Give WebKitWebDriver its moment to be up before the clock starts.
        for _ in range(200):
            try:
                code, _ = http("GET", base + "/status", timeout=1)
                if code == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        t0 = time.monotonic()
        code, answer = http("POST", base + "/session", caps)
        if code != 200:
            raise RuntimeError(f"{subject.label}: no WebDriver session: {code} {answer}")
        sid = answer["value"]["sessionId"]
        eid = find_element(base, sid, subject.ready_css, 60)
        in_dom = time.monotonic() - t0
        pid = find_by_exe(driver.pid, subject.binary)
        if pid is None:
            raise RuntimeError(f"{subject.label}: no process runs {subject.binary}")
        _, r = http("GET", f"{base}/session/{sid}/element/{eid}/rect", timeout=10)
        ox, oy = window_origin(pid, display)
        rect = (ox + int(r["value"]["x"]), oy + int(r["value"]["y"]),
                max(1, int(r["value"]["width"])), max(1, int(r["value"]["height"])))
        while not screen.drawn(screen.grab(rect)):
            if time.monotonic() > t0 + 60:
                raise RuntimeError(f"{subject.label}: {subject.ready_css} never showed on screen")
            time.sleep(0.01)
        painted = time.monotonic() - t0
        time.sleep(args.settle)
        # What the finished screen shows there: the plain runs wait for it.
        reference = screen.grab(rect)
        mem = memory_of(pid)
        keypad = None
        if subject.login is not None:
            login_s = log_in(base, sid, subject.login)
            time.sleep(args.settle)
            keypad = (login_s, memory_of(pid))
        http("DELETE", f"{base}/session/{sid}", timeout=10)
        return TimedRun(in_dom, painted, mem, keypad, rect, reference)
    finally:
        stop(driver)


def plain_run(args, display, screen: Screen, subject: Subject, seed: Path, work: Path, compositing: bool,
              reference: TimedRun) -> tuple[float | None, Memory, int]:
    """The binary started as a user starts it: seconds from spawn until the
    element shows on screen exactly as in the finished timed run (None if
    it never did within 60 s), then memory once settled."""
    data = reset_data(seed, work / "run") if subject.data_dir else None
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [subject.binary],
        env=fresh_env(display, subject, data, compositing),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        shown = None
        while time.monotonic() < t0 + 60 and proc.poll() is None:
            if same_picture(screen.grab(reference.rect), reference.reference):
                shown = time.monotonic() - t0
                break
            time.sleep(0.01)
        if proc.poll() is not None:
            raise RuntimeError(f"{subject.label} exited early with {proc.returncode}")
        time.sleep(args.settle)
        return shown, memory_of(proc.pid), other_webkit_processes(set(tree(proc.pid)))
    finally:
        stop(proc)
        # The next start must not see this one's window.
        time.sleep(0.3)


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f} MB"


def ms(s: float | None) -> str:
    return "never" if s is None else f"{s * 1000:.0f} ms"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True)
    ap.add_argument("--minimal", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after usable before memory is read")
    ap.add_argument("--compositing", choices=["default", "disabled", "both"], default="default",
                    help="default: WEBKIT_DISABLE_COMPOSITING_MODE unset, as users run it")
    ap.add_argument("--breakdown", action="store_true", help="print PSS by mapping kind (fonts, libwebkit, heaps)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shouyin-bench-app-"))
    seed = work / "seed"
    seed.mkdir()
    ledger = seed / "ledger.db"
    # A till that has been set up: a store, a manager and a cashier, so the
    # app opens on its login screen however first start behaves.
    subprocess.run([args.cli, "init", "--db", str(ledger), "--store", "南京路店", "--terminal", "T01"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([args.cli, "user", "add", "--db", str(ledger), "--name", "店长 李娜", "--roles", "manager",
                    "--pin", "9999"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([args.cli, "user", "add", "--db", str(ledger), "--name", "收银员 王芳", "--roles", "cashier",
                    "--pin", "1111", "--approver", "店长 李娜", "--approver-pin", "9999"],
                   check=True, stdout=subprocess.DEVNULL)

    subjects = [
        Subject("app", "Shouyin app (release)", args.app, APP_READY_CSS, data_dir=True,
                login=("收银员 王芳", "1111")),
        Subject("minimal", "minimal Tauri window, Chinese text", args.minimal, MINIMAL_READY_CSS,
                {"SHOUYIN_BENCH_PAGE": "index.html"}),
        Subject("latin", "minimal Tauri window, Latin text only", args.minimal, MINIMAL_READY_CSS,
                {"SHOUYIN_BENCH_PAGE": "latin.html"}),
    ]
    modes = {"default": [True], "disabled": [False], "both": [True, False]}[args.compositing]

    # Stopped from outside: still stop the X server and the apps started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    xvfb, display = start_xvfb()
    results: dict = {}
    try:
        screen = Screen(display)
        for compositing in modes:
            mode = "compositing on (default)" if compositing else "WEBKIT_DISABLE_COMPOSITING_MODE=1"
            timed: dict[str, list[TimedRun]] = {s.key: [] for s in subjects}
            plain: dict[str, list[tuple[float | None, Memory]]] = {s.key: [] for s in subjects}
            others = 0
            # Alternate the subjects run by run, so drift on a shared machine
            # touches them alike.
            for i in range(args.runs):
                for s in subjects:
                    run = timed_run(args, display, screen, s, seed, work, compositing)
                    timed[s.key].append(run)
                    print(f"  WebDriver run {i + 1} {s.key:8} in DOM {ms(run.in_dom)}, on screen {ms(run.painted)}",
                          file=sys.stderr, flush=True)
            for i in range(args.runs):
                for s in subjects:
                    shown, mem, seen = plain_run(args, display, screen, s, seed, work, compositing, timed[s.key][-1])
                    plain[s.key].append((shown, mem))
                    others = max(others, seen)
                    print(f"  plain run {i + 1} {s.key:8} on screen {ms(shown)}, PSS {mb(mem.pss_kb)}",
                          file=sys.stderr, flush=True)
            results[mode] = report(args, subjects, timed, plain, others, mode)
    finally:
        stop(xvfb)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def report(args, subjects, timed, plain, others, mode) -> dict:
    keys = [s.key for s in subjects]
    shown = {k: median(t for t, _ in plain[k]) for k in keys}
    in_dom = {k: median(r.in_dom for r in timed[k]) for k in keys}
    painted = {k: median(r.painted for r in timed[k]) for k in keys}
    pss = {k: median(m.pss_kb for _, m in plain[k]) for k in keys}
    rss = {k: median(m.rss_kb for _, m in plain[k]) for k in keys}
    uss = {k: median(m.uss_kb for _, m in plain[k]) for k in keys}
    wd_pss = {k: median(r.memory.pss_kb for r in timed[k]) for k in keys}
    load = Path("/proc/loadavg").read_text().split()[:3]
    print()
    print(f"Shouyin app vs a minimal Tauri window: {args.runs} runs each, alternating; {mode}; Xvfb 1280x800;"
          f" {os.cpu_count()} cores, load average now {' '.join(load)}")
    print("usable: the app's login screen shows the users to pick (the first screen a cashier acts on; then the")
    print("        PIN pad); the minimal window shows its marker line. 'start to usable' is from spawning the")
    print("        binary to those pixels on screen exactly as finished (X screen read every 10 ms, no WebDriver);")
    print("        the WebDriver columns are from the session request to the element in the DOM / drawn.")
    print(f"memory: {args.settle:g} s after usable, the app process + all its children (WebKitWebProcess,")
    print("        WebKitNetworkProcess), started without WebDriver; PSS from /proc/PID/smaps_rollup.")
    print("The minimal page shows Chinese text (收银 最小窗口) in the app's font stack, so it loads Noto Sans CJK")
    print("as the app does; the Latin-only row shows Latin text in DejaVu Sans and opens no CJK font.")
    print()
    head = ["", "start to usable", "PSS", "RSS", "USS", "WebDriver: DOM", "drawn", "PSS"]
    print("| " + " | ".join(f"{h:38}" if i == 0 else h for i, h in enumerate(head)) + " |")
    print("|" + "|".join("-" * (len(h) + 2 if i else 40) for i, h in enumerate(head)) + "|")
    for s in subjects:
        k = s.key
        cells = [f"{s.label:38}", f"{ms(shown[k]):>15}", f"{mb(pss[k]):>3}", f"{mb(rss[k]):>3}", f"{mb(uss[k]):>3}",
                 f"{ms(in_dom[k]):>14}", f"{ms(painted[k]):>5}", f"{mb(wd_pss[k]):>3}"]
        print("| " + " | ".join(cells) + " |")
    print()
    for s in subjects:
        k = s.key
        print(f"{k:8} start to usable, ms: {', '.join(ms(t) for t, _ in plain[k])}; "
              f"PSS, MB: {', '.join(f'{m.pss_kb / 1024:.0f}' for _, m in plain[k])}")
    print()
    print("Per process (median run by PSS):")
    mid = {k: sorted((m for _, m in plain[k]), key=lambda m: m.pss_kb)[len(plain[k]) // 2] for k in keys}
    for k in keys:
        parts = ", ".join(f"{n} {mb(p)} (RSS {mb(r)}, USS {mb(u)})" for n, p, r, u in mid[k].per_process)
        print(f"  {k:8} {parts}")
    if args.breakdown:
        print()
        print("PSS by mapping, all processes of the median run, MB:")
        cats = sorted({c for m in mid.values() for c in m.by_mapping}, key=lambda c: -mid["app"].by_mapping.get(c, 0))
        print(f"  {'':44} {'app':>7} {'minimal':>8} {'latin':>7} {'app - minimal':>14}")
        for c in cats:
            a, mi, la = (mid[k].by_mapping.get(c, 0) / 1024 for k in ("app", "minimal", "latin"))
            if max(a, mi, la) >= 0.1:
                print(f"  {c[:44]:44} {a:7.1f} {mi:8.1f} {la:7.1f} {a - mi:14.1f}")
    ratio = pss["app"] / pss["minimal"]
    ratio_latin = pss["app"] / pss["latin"]
    keypads = [r.keypad for r in timed["app"] if r.keypad is not None]
    print()
    print(f"PSS app / minimal window (Chinese page): {ratio:.2f}x  (target <= {TARGET_RATIO}x): "
          f"{'PASS' if ratio <= TARGET_RATIO else 'MISS'}")
    print(f"PSS app / minimal window (Latin page):   {ratio_latin:.2f}x")
    usable = shown["app"]
    print(f"app start to usable login screen: {ms(usable)}  (target < {TARGET_SECONDS * 1000:.0f} ms): "
          f"{'PASS' if usable is not None and usable < TARGET_SECONDS else 'MISS'}")
    login_s = keypad_pss = None
    if keypads:
        login_s = median(k[0] for k in keypads)
        keypad_pss = median(k[1].pss_kb for k in keypads)
        print(f"after login (WebDriver): login button to sale keypad in the DOM {ms(login_s)}; PSS at the sale"
              f" keypad {mb(keypad_pss)} ({keypad_pss / wd_pss['minimal']:.2f}x the minimal window via WebDriver)")
    if others:
        print(f"note: up to {others} WebKit processes of other programs ran meanwhile; they share library pages with"
              " ours, which lowers PSS for every subject (compare RSS, which they do not change).")
    return {
        "start_to_usable_s": shown,
        "webdriver_in_dom_s": in_dom,
        "webdriver_drawn_s": painted,
        "pss_kb": pss,
        "rss_kb": rss,
        "uss_kb": uss,
        "pss_webdriver_kb": wd_pss,
        "ratio": ratio,
        "ratio_latin": ratio_latin,
        "login_to_keypad_s": login_s,
        "pss_keypad_webdriver_kb": keypad_pss,
        "other_webkit_processes": others,
        "load_average": load,
    }


if __name__ == "__main__":
    main()
