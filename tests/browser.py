"""Render an HTML file in headless Chromium (Debian's package, installed by `make test`) and report
what the page saw: image count, broken images, JavaScript errors, tables."""
import shutil
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = """<script>
  window.__errors = [];
  window.addEventListener('error', e => window.__errors.push(String(e.message)));
  window.addEventListener('load', () => {
    const imgs = [...document.images];
    const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).length;
    document.title = 'IMAGES=' + imgs.length + ' BROKEN=' + broken + ' ERRORS=' + window.__errors.length
      + ' TABLES=' + document.querySelectorAll('table').length;
  });</script></body>"""


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium missing: `make test` installs it (scripts/ensure_chromium.sh)"
    return path


def render(html: Path, profile: Path) -> dict:
    """Load ``html`` (with a probe script) and return {"IMAGES": n, "BROKEN": n, "ERRORS": n, "TABLES": n}."""
    probe = html.with_name("probe_" + html.name)
    probe.write_text(html.read_text().replace("</body>", PROBE))
    dom = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    probe.unlink()
    assert "<title>IMAGES=" in dom.stdout, dom.stderr[-2000:]
    title = dom.stdout.split("<title>")[1].split("</title>")[0]
    return {k: int(v) for k, v in (part.split("=") for part in title.split())}


def screenshot(html: Path, shot: Path, profile: Path, height: int = 2400) -> None:
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    f"--window-size=1400,{height}", html.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, shot
