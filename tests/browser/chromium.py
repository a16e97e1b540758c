"""Headless Chromium through chromedriver's WebDriver protocol, and axe-core run inside it.

Plain HTTP (urllib) to the chromedriver that Debian ships beside its `chromium`: no browser is
downloaded and no client library is needed. axe-core comes from the npm registry, pinned in
package-lock.json beside this file and installed into node_modules/ by `make browser-deps`.

Run as a script it prints the axe violations of the pages given:
`python tests/browser/chromium.py reports/index.html reports/2022-06/two_pager_nl.html`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
INSTALL_HINT = (
    "run 'make browser-deps' (as root it installs Debian's chromium and chromium-driver with "
    "apt-get; otherwise install them yourself) to install them and axe-core"
)
# The rules of WCAG 2.0 and 2.1, levels A and AA (axe-core's tags).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class MissingTool(RuntimeError):
    """A program or file the browser check needs is not installed."""


def tools() -> tuple[str, str, Path]:
    """Chromium, chromedriver and axe-core's script; MissingTool naming what to run if absent."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [
        name
        for name, found in (
            ("chromium", chromium),
            ("chromedriver (Debian: chromium-driver)", driver),
            (f"axe-core ({AXE})", AXE.is_file()),
        )
        if not found
    ]
    if missing:
        raise MissingTool(f"not installed: {', '.join(missing)}; {INSTALL_HINT}")
    return chromium, driver, AXE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One headless Chromium session; use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 1600):
        self.chromium, driver, self.axe_path = tools()
        self.port = _free_port()
        self.profile = tempfile.TemporaryDirectory(prefix="lcsurvey-chromium-")
        self.driver = subprocess.Popen(
            [driver, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.size = (width, height)
        self.session = None

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = 120):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"chromedriver {method} {path}: {err.read().decode()}") from None

    def __enter__(self) -> Browser:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status", timeout=2)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline or self.driver.poll() is not None:
                    self.close()
                    raise RuntimeError("chromedriver did not start") from None
                time.sleep(0.1)
        width, height = self.size
        options = {
            "binary": self.chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",  # root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--window-size={width},{height}",
                f"--user-data-dir={self.profile.name}",
            ],
        }
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self._call("DELETE", f"/session/{self.session}", timeout=20)
            self.session = None
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.profile.cleanup()

    def open(self, page: str | Path) -> None:
        url = Path(page).resolve().as_uri()
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script: str, *args):
        """Run `script` (a function body) in the page; its return value."""
        return self._call(
            "POST", f"/session/{self.session}/execute/sync", {"script": script, "args": list(args)}
        )

    def run_async(self, script: str, *args):
        """Run `script`; it ends by calling arguments[arguments.length - 1](result)."""
        return self._call(
            "POST", f"/session/{self.session}/execute/async", {"script": script, "args": list(args)}
        )

    def screenshot(self, target: str | Path) -> None:
        """The viewport as a PNG."""
        png = self._call("GET", f"/session/{self.session}/screenshot")
        Path(target).write_bytes(base64.b64decode(png))

    def press_tab(self) -> None:
        """One press of the Tab key, as a keyboard user does it."""
        key = "\ue004"
        actions = [
            {
                "type": "key",
                "id": "keyboard",
                "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}],
            }
        ]
        self._call("POST", f"/session/{self.session}/actions", {"actions": actions})

    def axe(self, tags: list[str] = WCAG_TAGS) -> list[dict]:
        """axe-core's violations of the rules tagged `tags` on the open page.

        Each: id, impact, help and the nodes (target selector and failure summary).
        """
        if not self.run("return typeof window.axe !== 'undefined';"):
            self.run(self.axe_path.read_text(encoding="utf-8") + "\nreturn true;")
        result = self.run_async(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
              .then(r => done(JSON.stringify(r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))})))))
              .catch(e => done(JSON.stringify({error: String(e)})));
            """,
            tags,
        )
        violations = json.loads(result)
        if isinstance(violations, dict):
            raise RuntimeError(f"axe-core failed: {violations['error']}")
        return violations


def describe(violations: list[dict]) -> str:
    """Violations as lines a person can act on: rule, impact, help, where."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    at {' '.join(node['target'])}: {node['summary'].splitlines()[-1]}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    total = 0
    with Browser() as browser:
        for page in argv:
            browser.open(page)
            violations = browser.axe()
            nodes = sum(len(v["nodes"]) for v in violations)
            total += nodes
            print(f"{page}: {len(violations)} rules violated, {nodes} elements")
            if violations:
                print(describe(violations))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
