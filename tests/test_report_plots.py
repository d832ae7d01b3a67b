"""Plots that read (issue 22, item 7): log axes without overlapping labels, a conditional axis on its
own scale, parallel coordinates in real units with inactive values apart, failed trials off the
best-so-far line; `orch compare` refuses different objectives and writes under --root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.analysis import load_results
from orchestrator.session import TuneRequest, prepare

from conftest import SCRIPTS, orch_cmd, quad_command

SPACE = """\
lr: {type: float, low: 1.0e-3, high: 5.0e-3, log: true}
optimizer: {type: categorical, choices: [adam, sgd]}
momentum: {type: float, low: 0.0, high: 0.99, condition: "optimizer == sgd"}
width: {type: int, low: 16, high: 1024, log: true}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plots") / "r"
    space = root.parent / "space.yaml"
    space.write_text(SPACE)
    command = (f"{sys.executable} {SCRIPTS / 'conditional.py'} --lr {{lr}} --optimizer {{optimizer}} "
               f"--momentum {{momentum}} --crash-above 0.004")
    loop, notes = prepare(TuneRequest(root=root, study="cond", command=command, space=str(space), objective="loss",
                                      minimize=True, strategy="random", trials=14, parallel=2, seed=4, max_failures=20,
                                      task_name="toy"))
    loop.run(notes)
    quad = root.parent / "quad.yaml"
    quad.write_text("x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n")
    for name, objective, minimize in (("q-loss", "loss", True), ("q-score", "score", False)):
        loop, notes = prepare(TuneRequest(root=root, study=name, command=quad_command(), space=str(quad),
                                          objective=objective, minimize=minimize, strategy="random", trials=3,
                                          task_name="toy"))
        loop.run(notes)
    return root


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the report draws, kept open for inspection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept: list[Any] = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    close("all")


def _labels(axis: Any) -> list[Any]:
    return [t for t in axis.get_ticklabels() if t.get_text() and t.get_visible()]


def _overlap(fig: Any, texts: list[Any]) -> bool:
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in texts]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_hyperparameter_axes_are_readable(root: Path, tmp_path: Path, figures: list[Any]) -> None:
    from orchestrator.report import plot_hyperparameters

    r = load_results(root, "cond")
    assert plot_hyperparameters(r, tmp_path / "h.png") is not None
    fig = figures[-1]
    axes = {ax.get_xlabel().split(" ")[0]: ax for ax in fig.axes if ax.get_xlabel()}
    lr = axes["lr"]
    assert lr.get_xscale() == "log"
    assert all(not t.get_text() for t in lr.xaxis.get_minorticklabels())  # no minor labels on a log axis
    assert not _overlap(fig, _labels(lr.xaxis)) and not _overlap(fig, _labels(axes["width"].xaxis))
    momentum = axes["momentum"]  # conditional: a numeric axis of its active trials, not a label per raw float
    assert "active in" in momentum.get_xlabel()
    texts = [t.get_text() for t in _labels(momentum.xaxis)]
    assert 2 <= len(texts) <= 8 and all(len(t) <= 5 for t in texts), texts
    assert [t.get_text() for t in _labels(axes["optimizer"].xaxis)] == ["adam", "sgd"]


def test_parallel_coordinates_in_real_units_with_inactive_apart(root: Path, tmp_path: Path, figures: list[Any]) -> None:
    from orchestrator.report import INACTIVE_Y, plot_parallel

    r = load_results(root, "cond")
    assert plot_parallel(r, tmp_path / "p.png") is not None
    ax = figures[-1].axes[0]
    assert list(ax.get_yticks()) == []  # no 0..1 positions
    texts = {t.get_text() for t in ax.texts}
    assert {"0.001", "0.005", "adam", "sgd", "16", "1024", "0", "0.99", "inactive"} <= texts, texts
    ys = np.concatenate([line.get_ydata() for line in ax.get_lines() if len(line.get_ydata()) == 4])
    assert (ys >= 0).sum() and np.isclose(ys[ys < 0], INACTIVE_Y).all()  # inactive: its own band, not -1


def test_failed_trials_are_not_drawn_on_the_best_so_far_line(root: Path, tmp_path: Path, figures: list[Any]) -> None:
    from orchestrator.report import plot_progress

    r = load_results(root, "cond")
    failed = int((r.trials["status"] == "CRASHED").sum())
    assert failed >= 1
    first_ok = int(np.argmax(r.trials["counts"].to_numpy()))
    assert r.trials["incumbent"].iloc[first_ok:].notna().all()  # the best so far carries over failed trials
    plot_progress(r, tmp_path / "progress.png")
    a = figures[-1].axes[0]
    marks = [c for c in a.collections if c.get_label().startswith("failed")]
    assert len(marks) == 1 and len(marks[0].get_offsets()) == failed
    ys = marks[0].get_offsets()[:, 1]
    assert np.allclose(ys, 0.96)  # in axes coordinates: a band above every value (minimised objective)
    lo, hi = a.get_ylim()
    assert r.trials["objective"].max() < lo + 0.95 * (hi - lo)


def test_compare_refuses_different_objectives_and_writes_under_root(root: Path, tmp_path: Path) -> None:
    p = subprocess.run([*orch_cmd(), "compare", "q-loss", "q-score", "--root", str(root)], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("orch: error: compare: the studies optimise different objectives")
    assert "q-loss: minimize loss" in line and "q-score: maximize score" in line
    assert not (root / "compare").exists() and not (tmp_path / "compare-out").exists()
    p = subprocess.run([*orch_cmd(), "compare", "q-loss", "cond", "--root", str(root)], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (root / "compare" / "q-loss-vs-cond" / "compare.png").exists() and not (tmp_path / "compare-out").exists()


def test_compare_across_tasks_has_no_common_quality_and_says_so(root: Path) -> None:
    from dataclasses import replace

    from orchestrator.analysis import comparison_notes, comparison_rows

    same = [load_results(root, "q-loss"), load_results(root, "cond")]  # both toy:custom, minimize loss
    assert comparison_rows(same)["common"].notna().all() and comparison_notes(same) == []
    other = replace(same[1], spec=replace(same[1].spec, task=replace(same[1].spec.task, dataset="other")))
    table = comparison_rows([same[0], other])
    assert table["common"].isna().all() and table["trials_to_common"].isna().all()
    (note,) = comparison_notes([same[0], other])
    assert note.startswith("different tasks (toy:custom, toy:other)")
