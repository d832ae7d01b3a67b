"""meta-smac (transfer SMAC) and the warm-start selectors, on tables and on real studies."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from orchestrator.bench.runner import RunSpec, run_one
from orchestrator.bench.suites import hpobench_suite
from orchestrator.metalearning import selectors
from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.prior import GridPrior, ModelPrior, build_prior
from orchestrator.optimizers.base import config_key
from orchestrator.optimizers.prior import TaskWeights, greedy_portfolio, smac_vectors
from orchestrator.optimizers.transfer import TransferSmac
from orchestrator.session import TuneRequest, prepare
from orchestrator.space import space_from_yaml
from orchestrator.spec import MetaBnnOptions

from conftest import quad_command


def synthetic_meta(n_tasks: int = 4, rows: int = 60, seed: int = 0) -> MetaData:
    """Past tasks whose optimum sits near x=0.3 (shifted a little per task)."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_tasks):
        x, y = rng.uniform(-1, 1, rows), rng.uniform(-1, 1, rows)
        value = (x - 0.3 - 0.05 * t) ** 2 + (y + 0.2) ** 2
        frames.append(pd.DataFrame({"schema_version": 1, "study": f"s{t}", "task": f"job:d{t}", "job": "job",
                                    "objective": "loss", "direction": "minimize", "status": "SUCCESS",
                                    "value": value, "hp:x": x, "hp:y": y, "mf:rows": 100 * (t + 1)}))
    return MetaData.from_frame(pd.concat(frames, ignore_index=True))


SPACE = "x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n"


def test_task_weights_follow_rank_agreement() -> None:
    w = TaskWeights(2, beta=20)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    agree, disagree = y / 4, (5 - y) / 4
    out = w.update(np.stack([agree, disagree]), y)
    assert out[0] > 0.99 and math.isclose(out.sum(), 1.0)
    assert TaskWeights(2).update(np.stack([agree[:2], disagree[:2]]), y[:2]).tolist() == [0.5, 0.5]  # too few


def test_greedy_portfolio_covers_the_tasks() -> None:
    s = np.array([[0.0, 1.0, 0.4], [1.0, 0.0, 0.4]])
    assert greedy_portfolio(s, 1) == [2]  # alone, the all-rounder is best on average
    two = greedy_portfolio(s, 2)
    assert two[0] == 2 and np.minimum(s[:, two[0]], s[:, two[1]]).mean() == pytest.approx(0.2)
    assert sorted(greedy_portfolio(s, 5)) == [0, 1, 2]


def test_model_prior_on_a_continuous_space() -> None:
    cs = space_from_yaml(SPACE)
    prior = build_prior(cs, synthetic_meta(), seed=0)
    assert isinstance(prior, ModelPrior) and len(prior.tasks) == 4
    opt = TransferSmac(cs, prior, seed=0, n_trials=30)
    assert len(opt.warm) == 3  # the default portfolio
    first = [opt.ask() for _ in range(3)]
    assert [s.config for s in first] == opt.warm and all(s.origin == "meta: portfolio" for s in first)
    best = min((s.config["x"] - 0.3) ** 2 + (s.config["y"] + 0.2) ** 2 for s in first)
    assert best < 0.02  # the past tasks' region, zero-shot
    for s in first:
        opt.tell(s, (s.config["x"] - 0.3) ** 2 + (s.config["y"] + 0.2) ** 2)
    origins = []
    for _ in range(8):
        s = opt.ask()
        origins.append(s.origin)
        opt.tell(s, (s.config["x"] - 0.3) ** 2 + (s.config["y"] + 0.2) ** 2)
    assert origins[0::2] == ["meta: prior"] * 4 and "meta: prior" not in origins[1::2]
    opt.close()
    # meta-smac's: the favourite on every trial up to the 8th, then every 2nd
    eight = TransferSmac(cs, prior, seed=0, n_trials=30, greedy_until=8)
    origins = []
    for _ in range(11):
        s = eight.ask()
        origins.append(s.origin)
        eight.tell(s, (s.config["x"] - 0.3) ** 2 + (s.config["y"] + 0.2) ** 2)
    eight.close()
    assert origins[:8] == ["meta: portfolio"] * 3 + ["meta: prior"] * 5
    assert origins[8] != "meta: prior" and origins[9] == "meta: prior" and origins[10] != "meta: prior"
    # a recorded warm start of another size (a study's --warm-configs 5) is evaluated whole first
    src = TransferSmac(cs, prior, seed=0, n_warm=5)
    src.close()
    five = TransferSmac(cs, prior, seed=0, n_trials=30, warm=src.warm)
    assert [five.ask().origin for _ in range(6)] == ["meta: portfolio"] * 5 + ["meta: prior"]
    five.close()


def test_replay_continues_the_alternation() -> None:
    cs = space_from_yaml(SPACE)
    meta = synthetic_meta()
    a = TransferSmac(cs, build_prior(cs, meta, 0), seed=1, n_trials=30)
    hist = []
    for _ in range(7):
        s = a.ask()
        hist.append(s)
        a.tell(s, s.config["x"] ** 2)
    b = TransferSmac(cs, build_prior(cs, meta, 0), seed=1, n_trials=30, warm=a.warm)
    for s in hist:
        b.tell(s, s.config["x"] ** 2)
    na, nb = a.ask(), b.ask()
    assert na.origin == nb.origin  # the 8th ask is the same kind in both
    assert config_key(nb.config) not in {config_key(s.config) for s in hist}
    a.close()
    b.close()


def test_grid_prior_on_hpobench_and_leave_one_task_out() -> None:
    suite = hpobench_suite(["car", "kc1", "segment"])
    meta = suite.meta(exclude="car")
    prior = build_prior(suite.space, meta)
    assert isinstance(prior, GridPrior) and prior.tasks == ["hpobench-nn:kc1", "hpobench-nn:segment"]
    assert prior.norm.shape == (2, 30_000) and np.nanmin(prior.norm) == 0.0
    assert all("car" not in t for t in meta.task_names())


def test_meta_smac_beats_smac_early_on_hpobench() -> None:
    """Leave-one-task-out on the 8 datasets, one seed: a smoke check of the headline, not the benchmark
    (on a single seed smac's Sobol design can win a task: australian .0121 against .0138)."""
    from orchestrator.bench.suites import hpobench_suite

    meta, plain = [], []
    for task in hpobench_suite().tasks:
        rows = run_one(RunSpec("hpobench-nn", task, "meta-smac", 0, 10)).rows
        assert rows[0]["origin"] == "meta: portfolio"
        meta.append(rows[-1]["regret"])
        plain.append(run_one(RunSpec("hpobench-nn", task, "smac", 0, 10)).rows[-1]["regret"])
    assert sum(m < p for m, p in zip(meta, plain)) >= 6
    assert np.mean(meta) <= 0.6 * np.mean(plain)  # seed 0: .0160 against .0317 (.0149 before the incumbents)


@pytest.mark.parametrize("name", ["meta-smac", "knn", "portfolio", "model"])
def test_selectors_on_a_continuous_space(name: str) -> None:
    cs = space_from_yaml(SPACE)
    meta = synthetic_meta()
    fn = selectors.SELECTORS[name]
    ws = fn(meta, {"rows": 250}, cs, n=3)
    assert len(ws.configs) == 3 and len({config_key(c) for c in ws.configs}) == 3
    assert min((c["x"] - 0.3) ** 2 + (c["y"] + 0.2) ** 2 for c in ws.configs) < 0.05
    assert len(ws.reasons) == 3


def test_a_study_learns_from_earlier_studies(tmp_path: Path, quad_space: Path) -> None:
    root = tmp_path / "r"
    for i in range(2):
        loop, notes = prepare(TuneRequest(root=root, study=f"past{i}", command=quad_command(), space=str(quad_space),
                                          objective="loss", minimize=True, strategy="random", trials=12, seed=i,
                                          dataset_label=f"d{i}"))
        loop.run(notes)
    loop, notes = prepare(TuneRequest(root=root, study="new", command=quad_command(), space=str(quad_space),
                                      objective="loss", minimize=True, strategy="auto", trials=8, dataset_label="d2"))
    assert loop.spec.strategy.name == "meta-smac"
    note = next(n for n in notes if n.startswith("meta-smac: warm start"))
    assert ":d0" in note and ":d1" in note
    out = loop.run(notes)
    assert out.progress.done == 8
    assert loop.spec.strategy.warm is not None
    warm = [dict(c) for c in loop.spec.strategy.warm.configs]
    trials = pd.read_csv(root / "studies" / "new" / "trials.csv", dtype={"trial_id": str})
    # the portfolio, each past task's best, then the past tasks' favourites up to trial 8: the study's
    # optimiser learns from the meta-dataset as the benchmark's does (not only from the recorded warm start)
    origins = trials["origin"].tolist()
    n_inc = origins.count("meta: incumbent")
    assert origins == ["meta: portfolio"] * 3 + ["meta: incumbent"] * n_inc + ["meta: prior"] * (5 - n_inc)
    bests = set()
    for i in range(2):
        past = pd.read_csv(root / "studies" / f"past{i}" / "trials.csv")
        bests.add(tuple(past.loc[past["objective"].idxmin(), ["hp:x", "hp:y"]].round(9)))
    tried = {tuple(r) for r in trials[["hp:x", "hp:y"]].round(9).to_numpy()}
    assert n_inc >= 1 and bests <= tried  # both past studies' best configurations
    assert len(warm) == 3
    assert loop.spec.strategy.warm.studies == ("past0", "past1")  # what a resume learns from
    # the same warm start as the benchmark harness's meta-smac computes from the same past trials
    from orchestrator.metalearning.warmstart import load_meta
    bench = build("meta-smac", loop.store.load_space(), n_trials=8, task=loop.spec.task, meta=load_meta([root], "new"))
    assert bench.warm == warm
    for i in range(3):  # told the study's first results, it proposes the study's 4th trial
        bench.tell(bench.ask(), float(trials["objective"].iloc[i]))
    assert bench.ask().config == loop.store.state().records[trials["trial_id"].iloc[3]].trial.config
    bench.close()
    # a resume rebuilds the same optimiser from the recorded warm start
    again, _ = prepare(TuneRequest(root=root, resume="new", trials=10))
    assert again.spec.strategy.warm == loop.spec.strategy.warm
    again.run()
    origins = pd.read_csv(root / "studies" / "new" / "trials.csv")["origin"].tolist()
    assert len(origins) == 10 and origins[8] != "meta: prior" and origins[9] == "meta: prior"  # then every 2nd


def build(name: str, space: Any, seed: int = 0, n_trials: int = 100, task: Any = None, meta: Any = None,
          options: Any = None) -> Any:
    """An optimiser as the registry builds it, without a recorded warm start (it plans its own)."""
    from orchestrator.spec import StrategySpec
    from orchestrator.strategies import STRATEGIES, StrategyContext, build_optimizer

    spec = StrategySpec(name, options if options is not None else STRATEGIES[name].options)
    return build_optimizer(StrategyContext(space=space, strategy=spec, seed=seed, n_trials=n_trials, task=task,
                                           meta=meta))


def test_bnn_strategy_runs_and_learns() -> None:
    cs = space_from_yaml(SPACE)
    opt = build("bnn", cs, n_trials=20)
    best = math.inf
    for _ in range(20):
        s = opt.ask()
        y = (s.config["x"] - 0.3) ** 2 + (s.config["y"] + 0.2) ** 2
        best = min(best, y)
        opt.tell(s, y)
    opt.close()
    assert best < 0.05


def test_meta_bnn_pretrains_on_past_tasks_and_starts_from_the_portfolio() -> None:
    from orchestrator.task import Task

    cs = space_from_yaml(SPACE)

    def loss(c: dict) -> float:
        return (c["x"] - 0.3) ** 2 + (c["y"] + 0.2) ** 2

    task = Task("job", "new", "loss", True, {"rows": 250})
    meta = synthetic_meta(rows=80)
    # with one warm configuration: the portfolio's first (what a study records as its warm start), then the
    # re-weighted past tasks' favourite
    opt = build("meta-bnn", cs, n_trials=12, meta=meta, task=task, options=MetaBnnOptions(warm_configs=1, steps=150))
    first = opt.ask()
    assert first.origin == "meta: portfolio" and loss(first.config) < 0.1
    opt.tell(first, loss(first.config))
    assert opt.ask().origin == "meta: prior"
    opt.close()
    # by default: the past tasks' greedy portfolio of 3, then the re-weighted past tasks' favourite and the
    # adapted network's EI in turn, no random interleaving
    opt = build("meta-bnn", cs, n_trials=12, meta=meta, task=task, options=MetaBnnOptions(warm_configs=3, steps=150))
    origins, values = [], []
    for _ in range(9):
        s = opt.ask()
        origins.append(s.origin)
        values.append(loss(s.config))
        opt.tell(s, values[-1])
    opt.close()
    assert origins[:3] == ["meta: portfolio"] * 3
    assert origins[3::2] == ["meta: prior"] * 3 and set(origins[4::2]) == {"model"}
    # one past task is too few to pre-train on: the same loop around the plain network, from the portfolio
    one = MetaData(meta.df[meta.df["task"] == meta.task_names()[0]])
    opt = build("meta-bnn", cs, n_trials=12, meta=one, task=task, options=MetaBnnOptions(warm_configs=3, steps=150))
    origins = []
    for _ in range(5):
        s = opt.ask()
        origins.append(s.origin)
        opt.tell(s, loss(s.config))
    opt.close()
    assert origins == ["meta: portfolio"] * 3 + ["meta: prior", "model"]
    assert values[0] < 0.1 and min(values) < 0.05


def test_calibration_measurement_on_one_table(tmp_path: Path) -> None:
    from orchestrator.bench.plots import calibration_plot
    from orchestrator.bench.surrogates import calibration

    df = calibration(["car"], ns=(25, 50), reps=1, models=("rf", "bnn"), n_test=500)
    assert set(df["model"]) == {"rf", "bnn"} and len(df) == 4
    assert ((df["coverage90"] > 0.5) & (df["coverage90"] <= 1.0)).all() and np.isfinite(df["nll_median"]).all()
    assert calibration_plot(df, tmp_path / "calibration.png").stat().st_size > 10_000


def test_past_tasks_best_configurations_come_after_the_portfolio() -> None:
    """meta-smac's third stage: each past task's own best evaluated configuration (exact, not the smoothed
    prior's), the highest-weighted task's first, each once, then the prior-greedy and SMAC asks."""
    cs = space_from_yaml(SPACE)
    meta = synthetic_meta()
    prior = build_prior(cs, meta, seed=0)
    bests = {t: g.loc[g["value"].idxmin()] for t, g in meta.ok.groupby("task")}
    assert [(c["x"], c["y"]) for c in prior.incumbents] == [  # as projected into the space: 13 digits
        (pytest.approx(bests[t]["hp:x"], abs=1e-12), pytest.approx(bests[t]["hp:y"], abs=1e-12)) for t in prior.tasks]

    def loss(c: dict) -> float:
        return (c["x"] - 0.45) ** 2 + (c["y"] + 0.2) ** 2  # the last past task's optimum (0.3 + 0.05 * 3)

    opt = TransferSmac(cs, prior, seed=0, n_trials=30, incumbents=10, greedy_until=8)
    origins, configs = [], []
    for _ in range(12):
        s = opt.ask()
        if s.origin == "meta: incumbent" and not configs[3:]:
            order = np.argsort(-opt.weights.w, kind="stable")  # the weights it was chosen by
            assert s.config == next(prior.incumbents[i] for i in order
                                    if config_key(prior.incumbents[i]) not in {config_key(c) for c in configs})
        origins.append(s.origin)
        configs.append(s.config)
        opt.tell(s, loss(s.config))
    opt.close()
    keys = {config_key(c) for c in prior.incumbents}
    n_inc = origins.count("meta: incumbent")
    assert origins[:3] == ["meta: portfolio"] * 3 and origins[3:3 + n_inc] == ["meta: incumbent"] * n_inc
    assert n_inc == len(keys - {config_key(c) for c in configs[:3]})  # every past task's best, once
    assert keys <= {config_key(c) for c in configs} and len({config_key(c) for c in configs}) == 12
    assert origins[3 + n_inc] == "meta: prior"
    # capped: with incumbents=1 one of them, then the prior-greedy asks
    one = TransferSmac(cs, prior, seed=0, n_trials=30, incumbents=1, greedy_until=8)
    got = [one.ask().origin for _ in range(5)]
    one.close()
    assert got.count("meta: incumbent") <= 1 and got[4] == "meta: prior"


def test_replay_continues_the_incumbents() -> None:
    """A resumed study (its trials told to a fresh optimiser) asks what the uninterrupted one asks."""
    cs = space_from_yaml(SPACE)
    meta = synthetic_meta()
    a = TransferSmac(cs, build_prior(cs, meta, 0), seed=1, n_trials=30, incumbents=10, greedy_until=8)
    hist = []
    for _ in range(5):
        s = a.ask()
        hist.append(s)
        a.tell(s, s.config["x"] ** 2)
    b = TransferSmac(cs, build_prior(cs, meta, 0), seed=1, n_trials=30, incumbents=10, greedy_until=8, warm=a.warm)
    for s in hist:
        b.tell(s, s.config["x"] ** 2)
    for _ in range(4):  # the same kind of ask; the same past task's best (SMAC's own draws may differ)
        na, nb = a.ask(), b.ask()
        assert na.origin == nb.origin and (na.config == nb.config or na.origin != "meta: incumbent")
        a.tell(na, na.config["x"] ** 2)
        b.tell(nb, nb.config["x"] ** 2)
    a.close()
    b.close()


def test_grid_prior_incumbents_are_the_tasks_best_evaluated_points() -> None:
    suite = hpobench_suite(["car", "kc1", "segment"])
    prior = build_prior(suite.space, suite.meta(exclude="car"))
    assert isinstance(prior, GridPrior) and len(prior.incumbents) == 2
    s = prior.values(smac_vectors(suite.space, prior.incumbents))
    assert np.diag(s).tolist() == [0.0, 0.0]
    for name, c in zip(["kc1", "segment"], prior.incumbents):
        t = suite.tasks[name]
        assert t.objective[t.lookup(c, suite.space)] == t.objective.min()


def test_meta_bo_lets_go_of_past_tasks_the_new_task_contradicts() -> None:
    """Past tasks whose optimum is the new task's worst corner: after a few results they rank them no better
    than chance, their share drops to nothing, no past task's best is tried and the base optimiser (a GP
    here) proposes everything; past tasks that agree keep proposing."""
    from orchestrator.metalearning.transfer import meta_bo
    from orchestrator.task import Task

    cs = space_from_yaml(SPACE)
    task = Task("job", "new", "loss", True, {"rows": 250})

    def run(loss: Any, n: int = 16) -> list[str]:
        opt = meta_bo(cs, synthetic_meta(), task, seed=0, n_trials=n)
        origins = []
        for _ in range(n):
            s = opt.ask()
            origins.append(s.origin)
            opt.tell(s, loss(s.config))
        opt.close()
        return origins

    agree = run(lambda c: (c["x"] - 0.3) ** 2 + (c["y"] + 0.2) ** 2)
    assert agree[:3] == ["meta: portfolio"] * 3 and agree[3:].count("meta: prior") >= 5
    contradict = run(lambda c: -((c["x"] - 0.3) ** 2 + (c["y"] + 0.2) ** 2))
    assert contradict[:3] == ["meta: portfolio"] * 3
    late = contradict[8:]
    assert not any(o.startswith("meta:") for o in late) and "optuna-gp" in late


def test_every_best_tries_the_past_tasks_left_out_of_the_prior_too() -> None:
    """A model prior keeps the nearest 10 past tasks; the best configurations of the rest follow the prior
    tasks' bests as incumbent proposals, each once, before any prior-greedy ask (meta-asha: all of them;
    meta-smac: up to its cap, counted over both)."""
    cs = space_from_yaml(SPACE)
    meta = synthetic_meta(n_tasks=12)
    prior = build_prior(cs, meta, seed=0, target={"rows": 100})
    assert isinstance(prior, ModelPrior) and len(prior.tasks) == 10
    left_out = sorted(set(meta.task_names()) - set(prior.tasks))
    bests = [meta.ok[meta.ok["task"] == t].nsmallest(1, "cost").iloc[0] for t in left_out]
    assert [(c["x"], c["y"]) for c in prior.others] == [
        (pytest.approx(b["hp:x"], abs=1e-12), pytest.approx(b["hp:y"], abs=1e-12)) for b in bests]

    def run(cap: int) -> tuple[list[str], list[str]]:
        opt = TransferSmac(cs, prior, seed=0, n_trials=40, incumbents=cap, greedy_until=8)
        origins, keys = [], []
        for _ in range(3 + 10 + 2 + 1):
            s = opt.ask()
            origins.append(s.origin)
            keys.append(config_key(s.config))
            opt.tell(s, (s.config["x"] - 0.3) ** 2 + (s.config["y"] + 0.2) ** 2)
        opt.close()
        return origins, keys

    origins, keys = run(12)
    wanted = {config_key(c) for c in (*prior.incumbents, *prior.others)} - set(keys[:3])
    n_inc = origins.count("meta: incumbent")
    assert n_inc == len(wanted) and set(keys[3:3 + n_inc]) == wanted and origins[3 + n_inc] == "meta: prior"
    origins, keys = run(10)  # the cap counts the past bests tried, the portfolio's among them
    bests = {config_key(c) for c in (*prior.incumbents, *prior.others)}
    assert len(bests & set(keys[:3 + origins.count("meta: incumbent")])) == 10
    assert origins[3 + origins.count("meta: incumbent")] == "meta: prior"
