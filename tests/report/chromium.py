"""Headless Chromium for the report tests: a page opened offline, its console, network and drawn plots."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no websocket library)."""

    def __init__(self, profile: Path) -> None:
        r_in, self._w = os.pipe()
        self._r, w_out = os.pipe()

        def fds() -> None:  # Chromium reads commands on fd 3 and answers on fd 4
            a, b = os.dup(r_in), os.dup(w_out)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1800",
             "about:blank"], preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_in)
        os.close(w_out)
        self._buf, self._id, self.events = b"", 0, []

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        return self._until(lambda m: m.get("id") == self._id, timeout)

    def _until(self, done, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                m = json.loads(raw)
                if done(m):
                    if "error" in m:
                        raise RuntimeError(m["error"])
                    return m
                self.events.append(m)
            if select.select([self._r], [], [], 0.2)[0]:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self._buf += chunk
        raise TimeoutError(f"no answer from chromium in {timeout} s")

    def open(self, url: str) -> str:
        """Open ``url`` in a new tab with network, console and log events on; wait for its load."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["result"]["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["result"]["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        if not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self._until(lambda m: m.get("method") == "Page.loadEventFired", 30)
        time.sleep(0.3)
        return session

    def evaluate(self, session: str, expression: str):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
        return out["result"]["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, dialogs and any request that is not file: or data:."""
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Network.requestWillBeSent" and not p["request"]["url"].startswith(("file:", "data:")):
                found.append(f"network request {p['request']['url']}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                found.append(f"console {p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"log: {p['entry']['text']}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {p.get('message')}")
        return found

    def close(self) -> None:
        try:
            os.write(self._w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)
        os.close(self._w)
        os.close(self._r)


# every plotted trial number, per figure, and the numbers listed as "not drawn"
DRAWN = """(() => {
  const out = {};
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    const nums = [];
    gd.data.forEach(t => (t.customdata || []).forEach((n, i) => {
      if (typeof n === 'number' && t.x[i] !== null && t.y[i] !== null) nums.push(n);
    }));
    const note = gd.parentElement.querySelector('.missing');
    const missing = note ? note.dataset.numbers.split(' ').map(Number) : [];
    out[gd.id] = {drawn: nums, missing: missing, points: gd.querySelectorAll('.scatterlayer .point').length};
  });
  return out;
})()"""

# the classic networks' names drawn on each plot (stars, with or without an accuracy)
CLASSICS = """(() => {
  const out = {};
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    out[gd.id] = [];
    gd.data.filter(t => t.legendgroup === 'zoo' || t.legendgroup === 'classic').forEach(t =>
      t.customdata.forEach((n, i) => { if (t.x[i] !== null) out[gd.id].push(n); }));
  });
  return out;
})()"""

# the boxes (page pixels) of the classic networks' names on each front: names beside the stars without an accuracy
# (the classic trace's text) and names of the stars with one (annotations); and the plot's own box
NAME_BOXES = """(() => {
  const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const out = {};
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    if (!gd.id.startsWith('front-')) return;
    const names = [];
    gd.querySelectorAll('.scatterlayer .trace').forEach(t => t.querySelectorAll('.textpoint text').forEach(e =>
      names.push({text: e.textContent, box: box(e)})));
    gd.querySelectorAll('g.annotation text.annotation-text').forEach(e => names.push({text: e.textContent, box: box(e)}));
    out[gd.id] = {names: names, plot: box(gd.querySelector('.main-svg'))};
  });
  return out;
})()"""

# where the Pareto table ends and the first plot starts (page pixels from the top)
ORDER = """(() => ({
  table_top: document.getElementById('pareto-table').getBoundingClientRect().top + scrollY,
  table_bottom: document.getElementById('pareto-table').getBoundingClientRect().bottom + scrollY,
  first_plot: Math.min(...[...document.querySelectorAll('.js-plotly-plot')].map(
    e => e.getBoundingClientRect().top + scrollY)),
}))()"""


def overlapping(names: list[dict]) -> list[tuple[str, str]]:
    """The pairs of names whose boxes intersect (touching edges do not count)."""
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (l1, t1, r1, b1), (l2, t2, r2, b2) = a["box"], b["box"]
            if l1 < r2 and l2 < r1 and t1 < b2 and t2 < b1:
                pairs.append((a["text"], b["text"]))
    return pairs


def resize(browser: Chromium, session: str, width: int, height: int = 1800) -> None:
    """Lay the page out again at another window width (the plots follow it)."""
    browser.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
    time.sleep(1.0)
