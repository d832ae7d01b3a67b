"""The past trials' seconds as a cost model, and meta-asha's warm start cheapest first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestrator.metalearning import selectors
from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.transfer import meta_asha, transfer_smac
from orchestrator.metalearning.trial_cost import cheapest_first, trial_cost
from orchestrator.optimizers.base import config_key
from orchestrator.space import space_from_yaml

SPACE = "x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n"


def timed_meta(n_tasks: int = 4, rows: int = 80, seed: int = 0, timed: bool = True) -> MetaData:
    """Past tasks whose optimum sits near x=0.3, y=-0.2 and whose trials take exp(2y) seconds times a
    task's own scale (ten times slower from one task to the next)."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_tasks):
        x, y = rng.uniform(-1, 1, rows), rng.uniform(-1, 1, rows)
        df = pd.DataFrame({"schema_version": 1, "study": f"s{t}", "task": f"job:d{t}", "job": "job",
                           "objective": "loss", "direction": "minimize", "status": "SUCCESS",
                           "value": (x - 0.3 - 0.05 * t) ** 2 + (y + 0.2) ** 2, "hp:x": x, "hp:y": y,
                           "mf:rows": 100 * (t + 1)})
        if timed:
            df["wall_seconds"] = 10.0 ** t * np.exp(2 * y)
        frames.append(df)
    return MetaData.from_frame(pd.concat(frames, ignore_index=True))


def test_the_cost_model_learns_seconds_relative_to_each_task() -> None:
    cs = space_from_yaml(SPACE)
    meta = timed_meta()
    cost = trial_cost(meta, cs)
    assert cost is not None and cost.n_tasks == 4 and cost.n_trials == 320
    rel = cost.relative([{"x": 0.0, "y": -0.8}, {"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 0.8}])
    # exp(2y) over the median trial's: the tasks' thousandfold differences in scale cancel
    assert rel[0] < 0.4 < rel[1] < 2.5 < rel[2] and rel[2] / rel[0] > 10
    order = cheapest_first([{"x": 0.1, "y": 0.9}, {"x": 0.1, "y": -0.9}, {"x": 0.1, "y": 0.0}], cost)
    assert [c["y"] for c in order] == [-0.9, 0.0, 0.9]


def test_halted_and_shorter_trials_do_not_count_and_untimed_tasks_give_no_model() -> None:
    cs = space_from_yaml(SPACE)
    meta = timed_meta()
    df = meta.df.copy()
    # a halted trial, a hyperband trial on a third of the budget, a continuation: seconds of part of a run
    extra = df.iloc[:40].copy()
    extra["wall_seconds"] = 1e-3
    extra["halted"] = ["paused"] * 20 + [None] * 20
    extra["continues"] = [None] * 30 + ["t0001"] * 10  # a resumed trial's seconds are those after its pause
    df["budget"] = 27.0
    extra["budget"] = [27.0] * 20 + [9.0] * 10 + [27.0] * 10
    both = MetaData.from_frame(pd.concat([df, extra], ignore_index=True))
    probe = [{"x": 0.0, "y": -0.8}, {"x": 0.0, "y": 0.8}]
    cost, clean = trial_cost(both, cs), trial_cost(MetaData.from_frame(df), cs)
    assert cost is not None and clean is not None and cost.n_trials == clean.n_trials == 320
    assert cost.relative(probe) == pytest.approx(clean.relative(probe))
    assert trial_cost(timed_meta(timed=False), cs) is None
    assert cheapest_first(probe[::-1], None) == probe[::-1]


def test_meta_asha_runs_the_portfolio_cheapest_first_in_a_study_as_in_the_benchmark() -> None:
    """meta-smac's portfolio, cheapest first: the two cheaper configurations run first and whole (protected),
    the slowest joins the past tasks' bests, judged at the rungs like them; the recorded warm start of a
    study (`orch meta suggest --selector meta-asha`, what `orch tune --strategy meta-asha` records) is the
    same list in the same order, with the predicted time as its reason; untimed past trials keep the
    portfolio's order."""
    cs = space_from_yaml(SPACE)
    meta = timed_meta()
    smac = transfer_smac(cs, meta, None, seed=0, n_trials=20)
    asha = meta_asha(cs, meta, None, seed=0, n_trials=20, min_budget=1, max_budget=9)
    portfolio = [smac.ask().config for _ in range(3)]
    cost = trial_cost(meta, cs)
    assert cost is not None
    ordered = sorted(portfolio, key=lambda c: float(cost.relative([c])[0]))
    assert [config_key(c) for c in ordered] != [config_key(c) for c in portfolio]  # this portfolio was not
    assert asha.protect == 2 and asha.searcher.n_warm == 2
    asked = [asha.ask() for _ in range(20)]
    assert [config_key(s.config) for s in asked[:2]] == [config_key(c) for c in ordered[:2]]
    assert [s.origin for s in asked[:2]] == ["meta: portfolio"] * 2
    later = {config_key(s.config): s.origin for s in asked[2:]}
    assert later.get(config_key(ordered[2])) == "meta: incumbent"  # the slowest, among the past bests
    rel = cost.relative(ordered)
    assert rel[-1] > 1.5 * rel[0]
    ws = selectors.SELECTORS["meta-asha"](meta, {}, cs, n=3, seed=0)
    assert [config_key(c) for c in ws.configs] == [config_key(c) for c in ordered]
    assert all("predicted time x" in r for r in ws.reasons)
    untimed = timed_meta(timed=False)
    plain = meta_asha(cs, untimed, None, seed=0, n_trials=20, min_budget=1, max_budget=9)
    smac = transfer_smac(cs, untimed, None, seed=0, n_trials=20)
    assert [config_key(plain.ask().config) for _ in range(2)] == [config_key(smac.ask().config) for _ in range(2)]
