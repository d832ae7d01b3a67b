"""orch results / report / compare on real finished studies; the HTML report in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from orchestrator.analysis import load_results
from orchestrator.errors import ConfigError, StoreCorrupt
from orchestrator.session import TuneRequest, prepare

from conftest import quad_command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("analysis") / "r"
    space = root.parent / "space.yaml"
    space.write_text("x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n")
    for name, strategy, extra in (("rand", "random", "--crash-above 0.9"), ("sm", "smac", "")):
        loop, notes = prepare(TuneRequest(root=root, study=name, command=quad_command(extra), space=str(space),
                                          objective="loss", minimize=True, strategy=strategy, trials=14, parallel=2,
                                          seed=2, max_failures=20, task_name="quad"))  # one task, two commands
        loop.run(notes)
    return root


def orch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, timeout=300)


def test_results_summary(studies: Path) -> None:
    r = load_results(studies, "rand")
    s = r.summary()
    ok = r.ok
    assert s["trials"] == 14 and sum(s["status"].values()) == 14
    assert s["best"]["objective"] == pytest.approx(ok["objective"].min())
    assert set(s["best"]["config"]) == {"x", "y"}
    assert 1 <= s["trials_to_95pct_of_best"] <= s["trials_to_99pct_of_best"] <= 14
    assert (r.trials["incumbent"].diff().dropna() <= 1e-12).all()  # a minimised incumbent never rises
    assert s["compute"]["wall_hours"] > 0


def test_results_cli_formats(studies: Path) -> None:
    p = orch("results", "rand", "--root", str(studies), "--top", "3")
    assert p.returncode == 0 and "top 3" in p.stdout and "trials to reach 95% / 99% of the best" in p.stdout
    js = json.loads(orch("results", "rand", "--root", str(studies), "--json").stdout)
    assert js["study"] == "rand" and js["direction"] == "minimize"
    csv = pd.read_csv(StringIO(orch("results", "rand", "--root", str(studies), "--csv").stdout), dtype={"trial_id": str})
    assert len(csv) == 14 and csv["objective"].iloc[0] == pytest.approx(js["best"]["objective"])


def test_errors_are_one_line(studies: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no study 'nope'"):
        load_results(studies, "nope")
    broken = tmp_path / "r"
    shutil.copytree(studies / "studies" / "rand", broken / "studies" / "rand")
    (broken / "studies" / "rand" / "trials.csv").write_text("garbage\n")
    with pytest.raises(StoreCorrupt, match="trials.csv: corrupt trials.csv"):
        load_results(broken, "rand")
    p = orch("results", "rand", "--root", str(broken))
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_report_files(studies: Path, tmp_path: Path) -> None:
    p = orch("report", "sm", "--root", str(studies), "--out", str(tmp_path / "rep"))
    assert p.returncode == 0, p.stderr
    for f in ("report.html", "progress.png", "hyperparameters.png", "parallel_coordinates.png", "importance.png"):
        assert (tmp_path / "rep" / f).stat().st_size > 1000, f
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "Best configuration" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(studies: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert orch("report", "sm", "--root", str(studies), "--out", str(out)).returncode == 0
    page = (out / "report.html").read_text()
    probe = ("<script>window.addEventListener('load',()=>{const im=[...document.images];"
             "const ok=im.filter(i=>i.complete&&i.naturalWidth>100).length;"
             "document.body.insertAdjacentHTML('beforeend',`<p id=probe>images ${ok}/${im.length} tables "
             "${document.querySelectorAll('table').length}</p>`)});</script>")
    probed = out / "probed.html"
    probed.write_text(page.replace("</body>", probe + "</body>"))
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*args, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<p id=\"probe\">images 4/4 tables 3</p>" in dom.stdout, dom.stdout[-500:] + dom.stderr[-500:]
    shot = tmp_path / "page.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1200,2400", (out / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_compare(studies: Path, tmp_path: Path) -> None:
    p = orch("compare", "rand", "sm", "--root", str(studies), "--out", str(tmp_path / "cmp"))
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table["study"]) == ["rand", "sm"] and table["trials_to_common"].notna().all()
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 1000
