"""report.html: one self-contained file, verdict first, rendered for real in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tiny_runs import tiny_comparison_folder, tiny_result, tiny_run

from loyaltysim.present.page import CSP
from loyaltysim.present.report import RUN_FIGURES, RunView, run_report_html
from loyaltysim.results.verdict import describe


@pytest.fixture(scope="module")
def report() -> str:
    return (tiny_run() / "report.html").read_text(encoding="utf-8")


def images(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)


@pytest.mark.parametrize("which", ["run", "comparison"])
def test_the_report_fetches_nothing(which):
    folder = tiny_run() if which == "run" else tiny_comparison_folder()
    page = (folder / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", page.replace(CSP, ""))
    assert not re.search(r"(?i)https?:|ftp:|file:|//[a-z0-9]", text)
    assert not re.search(r"(?i)<(script|link|iframe|object|embed|base)\b|url\(|@import|srcset", page)
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    srcs = images(page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for src in srcs:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_embeds_the_plots_of_the_folder(report):
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in images(report)]
    on_disk = [(tiny_run() / "plots" / f"{stem}.png").read_bytes() for stem, _, _ in RUN_FIGURES]
    assert embedded == on_disk


def test_the_verdict_in_words_comes_first_then_figures_plots_scenario_manifest(report):
    words = html.escape(describe(tiny_result().verdict), quote=True)
    order = [report.index(s) for s in (words, "<h2>Key figures</h2>", "<h2>Plots</h2>", "<h2>Scenario</h2>",
                                       "<h2>Manifest</h2>")]
    assert order == sorted(order)
    assert report.index(words) < report.index("<table>")


def test_the_report_shows_the_kpis_scenario_and_manifest(report):
    for metric in ("revenue", "business_roi", "customer_net_value", "points_liability", "insight_index"):
        assert f">{metric}</td>" in report
    assert "earn_per_unit: 1.0" in report  # the resolved scenario
    assert "&quot;scenario_hash&quot;" in report  # the manifest


def test_everything_from_the_scenario_is_escaped():
    result = tiny_result()
    view = RunView.from_result(result)
    view.scenario = {**view.scenario, "description": "<img src=x onerror=alert(1)> & co"}
    page = run_report_html(view, {})
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in page


# ---------------------------------------------------------------- real browser

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run does it as root)")

# Written into a copy of the report: records CSP violations and fetched resources, then, once the page
# has loaded, every image's state, into the DOM that --dump-dom prints.
PROBE = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const out = {images: imgs.length, widths: imgs.map(i => (i.complete ? i.naturalWidth : -1)),
               violations: window.__violations, resources: performance.getEntriesByType('resource').map(r => r.name),
               title: document.title, verdict: (document.querySelector('.verdict') || {}).textContent || ''};
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}",
           # Belt and braces: even the browser's own background requests go nowhere.
           "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def probed(page: str) -> str:
    """The page with the probe script, allowed by its hash and by nothing else."""
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    page = page.replace(f'content="{CSP}"', f'content="{CSP}; script-src \'sha256-{digest}\'"', 1)
    return page.replace("<head>", f"<head><script>{PROBE}</script>", 1)


@needs_chromium
@pytest.mark.parametrize("which", ["run", "comparison"])
def test_chromium_loads_every_image_and_requests_nothing(which, tmp_path):
    folder = tiny_run() if which == "run" else tiny_comparison_folder()
    page = (folder / "report.html").read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(probed(page), encoding="utf-8")
    done = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run (exit {done.returncode}): {done.stderr[-2000:]}"
    out = json.loads(html.unescape(found.group(1)))
    assert out["images"] == len(images(page)) > 0
    assert all(w > 0 for w in out["widths"]), out["widths"]
    assert out["violations"] == []
    assert out["resources"] == []
    assert out["title"].startswith("loyaltysim")
    if which == "run":
        assert out["verdict"].startswith("Overall the exchange is")


@needs_chromium
def test_chromium_renders_a_screenshot(tmp_path):
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, "--window-size=1100,1600", f"--screenshot={shot}", (tiny_run() / "report.html").as_uri())
    assert shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real page, not a blank one
