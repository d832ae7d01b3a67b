"""ASHA's decisions on intermediate results, the learning-curve model, and progress files (pure, fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from orchestrator.metalearning.curves import CurveModel, curve_model, parse_curve
from orchestrator.metalearning.metadata import MetaData
from orchestrator.optimizers.asha import Asha, rungs
from orchestrator.optimizers.base import CONTINUE, PAUSE, STOP, Optimizer, Suggestion
from orchestrator.store.progress import ProgressPoint, append_point, parse_point, read_points


class Listed(Optimizer):
    """A searcher that proposes x = 0, 1, 2, ... (skipping those it knows of, as random search does on a
    replay) and records what it is told."""

    name = "listed"

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.told: list[tuple[int, float | None]] = []

    def ask(self) -> Suggestion:
        x = min(set(range(len(self.seen) + 1)) - self.seen)
        self.seen.add(x)
        return Suggestion({"x": x}, None, "listed")

    def pending(self, suggestion: Suggestion) -> None:
        self.seen.add(suggestion.config["x"])

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        self.seen.add(suggestion.config["x"])
        self.told.append((suggestion.config["x"], cost))


def test_rungs_are_geometric_below_the_full_budget() -> None:
    assert rungs(1, 27, 3) == [1, 3, 9]
    assert rungs(2, 52, 2) == [2, 4, 8, 16, 32]
    assert rungs(1, 4, 2) == [1, 2]


def test_promotion_mode_pauses_below_the_top_and_resumes_the_best_paused_later() -> None:
    """eta 2: a configuration goes on only inside the top floor(n/2) of its rung; a paused one is resumed
    (a new trial of the same configuration at the full budget) once it rises into it."""
    asha = Asha(Listed(), min_budget=1, max_budget=4, eta=2)
    a = asha.ask()
    assert a.config == {"x": 0} and a.budget == 4
    assert asha.report(a, 1, 5.0) == PAUSE  # alone at rung 1: floor(1/2) = 0 go on
    asha.tell(a, 5.0)
    b = asha.ask()
    assert b.config == {"x": 1}
    assert asha.report(b, 1, 9.0) == PAUSE  # worse than a: a is now the top 1 of 2
    asha.tell(b, 9.0)
    again = asha.ask()  # a's turn: resumed before any new configuration
    assert again.config == {"x": 0} and again.budget == 4 and "resumed after epoch 1" in again.origin
    assert asha.report(again, 2, 4.0) == PAUSE  # alone at rung 2
    asha.tell(again, 4.0)
    c = asha.ask()
    assert c.config == {"x": 2}
    assert asha.report(c, 1, 1.0) == CONTINUE  # the best of 3 at rung 1: floor(3/2) = 1
    assert asha.report(c, 2, 0.5) == CONTINUE  # the best of 2 at rung 2
    assert asha.report(c, 4, 0.4) == CONTINUE  # the full budget: it ends by itself
    asha.tell(c, 0.4)
    # the searcher hears of each configuration once, when its first trial ends
    assert asha.searcher.told == [(0, 5.0), (1, 9.0), (2, 0.4)]  # type: ignore[attr-defined]


def test_stopping_mode_stops_outside_the_top_share_and_never_resumes() -> None:
    asha = Asha(Listed(), min_budget=1, max_budget=9, eta=3, mode="stopping")
    first = asha.ask()
    assert asha.report(first, 1, 5.0) == CONTINUE  # the first at a rung always goes on
    assert asha.report(first, 3, 4.0) == CONTINUE
    assert asha.report(first, 9, 3.0) == CONTINUE
    asha.tell(first, 3.0)
    worse = asha.ask()
    assert asha.report(worse, 1, 6.0) == STOP  # 1 of 2 did better: rank 1/2 > 1/3
    asha.tell(worse, 6.0)
    better = asha.ask()
    assert better.config == {"x": 2}  # nothing is resumed in stopping mode
    assert asha.report(better, 1, 1.0) == CONTINUE


def test_a_judge_ranks_by_the_predicted_final_cost() -> None:
    """meta-asha: the rung ranks by the curve model's prediction, not the value reported, and the searcher
    is told the prediction for a configuration it stopped."""
    predicted = {0: 1.0, 1: 5.0}

    def judge(reports: dict[float, float], config: dict) -> tuple[float, float]:
        return predicted[config["x"]], 0.1

    asha = Asha(Listed(), min_budget=1, max_budget=9, eta=3, mode="stopping", judge=judge)
    a = asha.ask()
    assert asha.report(a, 1, 100.0) == CONTINUE
    asha.tell(a, 100.0)
    b = asha.ask()
    assert asha.report(b, 1, 0.1) == STOP  # reports better, but predicted to end worse than a
    asha.tell(b, 0.1)
    assert asha.searcher.told == [(0, 100.0), (1, 5.0)]  # type: ignore[attr-defined]


def test_replaying_the_journal_rebuilds_the_same_state() -> None:
    """What a resumed controller does: pending (each ask), report and tell in journal order; the
    rebuilt ASHA then decides and asks exactly as the original."""
    live = Asha(Listed(), 1, 4, 2)
    events: list[tuple[str, Suggestion, float, float]] = []
    for cost in (5.0, 9.0):
        s = live.ask()
        events.append(("asked", s, 0, 0.0))
        assert live.report(s, 1, cost) == PAUSE
        events += [("report", s, 1, cost), ("tell", s, 0, cost)]
        live.tell(s, cost)
    resumed = live.ask()
    events += [("asked", resumed, 0, 0.0), ("report", resumed, 2, 2.0)]
    assert live.report(resumed, 2, 2.0) == PAUSE

    replay = Asha(Listed(), 1, 4, 2)
    for kind, s, epoch, cost in events:
        if kind == "asked":
            replay.pending(s)
        elif kind == "report":
            replay.report(s, epoch, cost)
        else:
            replay.tell(s, cost)
    assert replay.recorded == live.recorded
    assert {k: (v.state, v.promoted) for k, v in replay.lines.items()} == {
        k: (v.state, v.promoted) for k, v in live.lines.items()}
    live.tell(resumed, 2.0)
    replay.tell(resumed, 2.0)
    assert live.ask() == replay.ask()


def _family(n: int, seed: int = 0) -> list[list[tuple[float, float]]]:
    """Curves cost(e) = final + gap / e at epochs 1, 2, 4, 8, 16 (falling to their final value)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        final, gap = rng.uniform(0, 1), rng.uniform(0.5, 2)
        out.append([(float(e), final + gap / e) for e in (1, 2, 4, 8, 16)])
    return out


def test_the_curve_model_predicts_a_final_value_from_the_first_epochs() -> None:
    model = CurveModel(_family(400))
    assert model.final_epoch == 16 and len(model) == 400
    errors, sds = [], []
    for curve in _family(50, seed=1):
        mean, sd = model.predict(dict(curve[:3]))  # epochs 1, 2, 4
        errors.append(abs(mean - curve[-1][1]))
        sds.append(sd)
    naive = [abs(c[2][1] - c[-1][1]) for c in _family(50, seed=1)]  # "it stays where it is at epoch 4"
    assert np.mean(errors) < 0.35 * np.mean(naive)
    assert 0 < np.median(sds) < 0.5
    assert model.predict({16.0: 0.3}) == (0.3, 0.0)  # at the full budget: what it is
    assert model.predict({3.0: 0.3})[1] == float("inf")  # no past curve reports epoch 3


def test_the_curve_model_reads_the_meta_dataset_and_skips_halted_curves() -> None:
    import pandas as pd

    rows = []
    for i, c in enumerate(_family(20)):
        cut = c[:2] if i % 2 else c  # every other trial was stopped after epoch 2
        rows.append({"study": "s", "task": "t", "job": "j", "objective": "acc", "direction": "maximize",
                     "status": "SUCCESS", "value": -cut[-1][1], "curve": json.dumps([[e, -v] for e, v in cut]),
                     "halted": "stopped" if i % 2 else None})
    meta = MetaData.from_frame(pd.DataFrame(rows))
    model = curve_model(meta)
    assert model is not None and len(model) == 10 and model.final_epoch == 16
    assert len(meta.ok) == 10  # a halted trial's partial value is not its configuration's quality
    assert curve_model(MetaData.from_frame(pd.DataFrame(rows[:6]))) is None  # too few complete curves
    assert parse_curve("[[2, 0.5], [1, 0.25], [3, null]]") == [(1.0, 0.25), (2.0, 0.5)]


def test_a_configuration_past_tasks_trained_is_predicted_by_its_own_past_curves() -> None:
    """A slow learner (flat for 4 epochs, then falling far) looks like the flat curves to a match on values;
    its own curves on past tasks know better. Fewer than MIN_SAME of them: the match on values."""
    import pandas as pd

    from orchestrator.space import space_from_yaml

    space = space_from_yaml("lr: {type: float, low: 0.0001, high: 1.0, log: true}\n")
    rng = np.random.default_rng(0)
    rows = []
    for c in _family(200):  # fast learners: nearly done by epoch 4
        rows.append({"lr": float(rng.uniform(0.01, 1.0)), "curve": c})
    for t in range(4):  # lr=0.001 on four past tasks: 1.0 until epoch 4, then down to 0.1-0.3
        final = 0.1 + 0.05 * t
        rows.append({"lr": 0.001, "curve": [(1.0, 1.0), (2.0, 1.0), (4.0, 1.0), (8.0, 0.6), (16.0, final)]})
    rows.append({"lr": 0.002, "curve": [(1.0, 1.0), (2.0, 1.0), (4.0, 1.0), (8.0, 0.5), (16.0, 0.1)]})  # once
    n = len(rows)
    frame = pd.DataFrame({"study": [f"s{i % 5}" for i in range(n)], "task": [f"j:t{i % 5}" for i in range(n)],
                          "job": "j", "objective": "loss", "direction": "minimize", "status": "SUCCESS",
                          "value": [r["curve"][-1][1] for r in rows], "hp:lr": [r["lr"] for r in rows],
                          "curve": [json.dumps(r["curve"]) for r in rows]})
    model = curve_model(MetaData.from_frame(frame), space)
    assert model is not None
    early = {1.0: 1.0, 2.0: 1.0, 4.0: 1.0}
    mean, sd = model.judge(early, {"lr": 0.001})
    assert mean == pytest.approx(np.mean([0.1, 0.15, 0.2, 0.25])) and 0 < sd < 0.1
    by_value = model.predict(early)
    assert by_value[0] > 0.6 and model.judge(early, {"lr": 0.002}) == by_value  # one past curve: by value
    assert model.judge(early, {"lr": 0.5}) == by_value  # never trained before
    assert model.judge({16.0: 0.3}, {"lr": 0.001}) == (0.3, 0.0)


def test_progress_lines_are_read_whole_and_in_either_shape(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    append_point(path, ProgressPoint(1, {"acc": 0.5}, attempt=0))
    with open(path, "a") as f:
        f.write('{"epoch": 2, "acc": 0.6, "loss": 1.5}\n')  # a user's script: metrics beside the epoch
        f.write("a stray print\n")
        f.write('{"epoch": 3, "acc": 0.7')  # a write in flight
    points, offset = read_points(path)
    assert [(p.epoch, p.metrics) for p in points] == [(1.0, {"acc": 0.5}), (2.0, {"acc": 0.6, "loss": 1.5})]
    assert points[0].attempt == 0 and points[0].t is not None
    with open(path, "a") as f:
        f.write("}\n")
    more, _ = read_points(path, offset)
    assert [p.epoch for p in more] == [3.0]
    assert parse_point('{"epoch": "two", "acc": 1}') is None and parse_point("[1, 2]") is None


def test_asha_needs_a_known_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        Asha(Listed(), 1, 9, 3, mode="sometimes")


def test_the_protected_warm_start_runs_its_whole_budget_and_still_counts_at_the_rungs() -> None:
    """meta-asha's warm start (the past tasks' best configurations) is not judged by a rung's early peers."""
    asha = Asha(Listed(), min_budget=1, max_budget=4, eta=2, protect=1)
    warm = asha.ask()
    assert asha.report(warm, 1, 9.0) == CONTINUE and asha.report(warm, 2, 8.0) == CONTINUE  # alone, yet goes on
    asha.tell(warm, 7.0)
    other = asha.ask()
    assert asha.report(other, 1, 10.0) == PAUSE  # worse than the warm start's 9.0 recorded at rung 1


def test_a_protected_configuration_is_halted_only_when_the_judge_is_sure_it_ends_worse() -> None:
    """A warm-start configuration stops early only when its predicted final cost, 1.645 standard deviations
    better, still does not reach the best full-budget result (and the searcher hears the prediction)."""
    sd = {"x": 0.5}

    def judge(reports: dict[float, float], config: dict) -> tuple[float, float]:
        return reports[max(reports)] - 1.0, sd["x"]

    searcher = Listed()
    asha = Asha(searcher, min_budget=1, max_budget=4, eta=2, protect=3, judge=judge)
    first = asha.ask()
    assert asha.report(first, 1, 9.0) == CONTINUE  # nothing ran its whole budget yet: nothing to lose to
    assert asha.report(first, 2, 7.0) == CONTINUE and asha.report(first, 4, 5.0) == CONTINUE
    asha.tell(first, 5.0)
    hopeless, close = asha.ask(), asha.ask()
    assert asha.report(hopeless, 1, 9.0) == PAUSE  # predicted 8.0 +- 0.5: 7.18 at best, the best is 5.0
    assert asha.report(close, 1, 6.0) == CONTINUE  # predicted 5.0: 4.18 at best could beat it
    asha.tell(hopeless, 9.0)
    assert (hopeless.config["x"], 8.0) in searcher.told
    sd["x"] = float("inf")  # the judge knows nothing of this curve: the protection stands
    unknown = Asha(Listed(), min_budget=1, max_budget=4, eta=2, protect=2, judge=judge)
    a = unknown.ask()
    unknown.report(a, 4, 1.0)
    unknown.tell(a, 1.0)
    assert unknown.report(unknown.ask(), 1, 50.0) == CONTINUE
