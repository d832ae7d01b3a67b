"""Asynchronous successive halving (ASHA; Li et al., MLSys 2020) on running trials, as an ask/tell optimiser.

Every trial runs with the full budget and reports each epoch (``report``). Rungs sit at ``min_budget *
eta**k`` epochs below ``max_budget``; a configuration's first report at or past a rung records its
score there, and the rung decides:

- ``promotion`` (asha): it goes on when it is among the best ``floor(n / eta)`` of the ``n`` recorded at
  the rung, else it is paused (halted, its checkpoint kept). Whenever a slot frees, ``ask`` first resumes
  the best paused configuration that has since entered its rung's top ``floor(n / eta)`` (freeze-thaw:
  a new trial that continues the paused one's checkpoint, a promotion), and only then asks the searcher
  for a new configuration.
- ``stopping``: it goes on when its rank at the rung is within the top 1/eta of those recorded there (the
  first one always), else it is stopped for good.

The score is the reported cost, or a learning-curve model's prediction of the configuration's final cost
(``judge``: meta-asha). The searcher's first ``protect`` proposals (meta-asha: meta-smac's warm start,
the configurations past tasks found best) are not judged by a rung's early peers (on LCBench task 126025
the portfolio's best learns slowly and ASHA paused it at epoch 4 for good: regret .09 against meta-smac's
0); their scores count at the rungs, and one is halted at a rung only when the judge is 95% sure that it
ends worse than the best configuration that ran its whole budget (``_hopeless``). The searcher (random search, meta-smac) is told each configuration once, when
its first trial ends: the final cost, or for a halted one the judge's prediction (else the last cost).

Hand-written, not Syne Tune's: its ASHA (0.16) only stops (no pause and resume), draws brackets from
numpy's global random state (not replayable from the journal) and brings xgboost and statsmodels with it
for some sixty lines of rung bookkeeping; here the state is rebuilt exactly by replaying the journal.
Pure: no files, no clocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from orchestrator.optimizers.base import CONTINUE, PAUSE, STOP, Optimizer, Suggestion, config_key

#: (epoch -> cost reported so far, configuration) -> (predicted final cost, its standard deviation)
Judge = Callable[[dict[float, float], dict], tuple[float, float]]
MODES = ("promotion", "stopping")
HOPELESS_Z = 1.645  # one-sided 95%


@dataclass
class _Line:
    """One configuration's trials, as one learning curve."""

    suggestion: Suggestion
    reports: dict[float, float] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)  # rung -> score recorded there
    promoted: set[int] = field(default_factory=set)  # rungs it has gone on from
    state: str = "running"  # running, pausing, paused, stopping, stopped, done
    told: bool = False
    protected: bool = False  # runs its whole budget


def rungs(min_budget: float, max_budget: float, eta: float) -> list[float]:
    """The milestones below the full budget: min_budget, min_budget*eta, ..."""
    out, m = [], float(min_budget)
    while m < max_budget - 1e-9:
        out.append(m)
        m *= eta
    return out


class Asha(Optimizer):
    uses_curves = True

    def __init__(self, searcher: Optimizer, min_budget: float, max_budget: float, eta: float = 3,
                 mode: str = "promotion", judge: Judge | None = None, name: str = "asha", protect: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"ASHA mode must be one of {MODES}, got {mode!r}")
        self.searcher = searcher
        self.max_budget = float(max_budget)
        self.eta = float(eta)
        self.mode = mode
        self.judge = judge
        self.name = name
        self.milestones = rungs(min_budget, max_budget, eta)
        self.protect = protect
        self.n_new = 0  # configurations the searcher proposed
        self.lines: dict[str, _Line] = {}
        self.recorded: list[dict[str, float]] = [{} for _ in self.milestones]  # rung -> line key -> score

    # --- asking ---------------------------------------------------------------------------------------

    def ask(self) -> Suggestion:
        if self.mode == "promotion":
            found = self._promotable()
            if found is not None:
                key, k = found
                line = self.lines[key]
                line.promoted.add(k)
                line.state = "running"
                last = max(line.reports)
                return Suggestion(line.suggestion.config, self.max_budget,
                                  origin=f"resumed after epoch {last:g} (promoted at rung {self.milestones[k]:g})",
                                  seed=line.suggestion.seed)
        s = self.searcher.ask()
        sug = Suggestion(s.config, self.max_budget, s.origin, s.seed)
        self._new_line(sug)
        return sug

    def _new_line(self, sug: Suggestion) -> None:
        self.lines[config_key(sug.config)] = _Line(sug, protected=self.n_new < self.protect)
        self.n_new += 1

    def _promotable(self) -> tuple[str, int] | None:
        """The best paused configuration inside its rung's top floor(n / eta), from the highest rung down."""
        for k in reversed(range(len(self.milestones))):
            rec = self.recorded[k]
            top = self._top(rec)
            for key in top:
                line = self.lines[key]
                if line.state == "paused" and k not in line.promoted and max(line.scores) == k:
                    return key, k
        return None

    def _top(self, rec: dict[str, float]) -> list[str]:
        n = int(math.floor(len(rec) / self.eta))
        return sorted(rec, key=lambda key: rec[key])[:n]  # ties: the first recorded (dicts keep order)

    # --- what running trials report -----------------------------------------------------------------

    def report(self, suggestion: Suggestion, epoch: float, cost: float) -> str:
        line = self._line(suggestion)
        line.reports[float(epoch)] = float(cost)
        if epoch >= self.max_budget - 1e-9:
            return CONTINUE  # it ends by itself
        crossed = [k for k, m in enumerate(self.milestones) if m <= epoch + 1e-9 and k not in line.scores]
        if not crossed:
            return CONTINUE
        score = self.score(line)
        key = config_key(suggestion.config)
        for k in crossed:
            line.scores[k] = score
            self.recorded[k][key] = score
        k = crossed[-1]
        if not self._hopeless(line) if line.protected else self._goes_on(key, k):
            line.promoted.add(k)
            return CONTINUE
        line.state = "pausing" if self.mode == "promotion" else "stopping"
        return PAUSE if self.mode == "promotion" else STOP

    def _goes_on(self, key: str, k: int) -> bool:
        rec = self.recorded[k]
        if self.mode == "promotion":
            return key in self._top(rec)
        values = sorted(rec.values())
        rank = sum(v < rec[key] for v in values) / len(values)  # the share recorded there that did better
        return rank <= 1.0 / self.eta

    def _hopeless(self, line: _Line) -> bool:
        """A protected configuration is halted only when the judge is confident that it ends worse than the
        best configuration that ran its whole budget: its predicted final cost ``HOPELESS_Z`` standard
        deviations better still does not reach it (Domhan et al., IJCAI 2015: stop when the chance to beat
        the best so far is under 5%)."""
        if self.judge is None:
            return False
        finals = [l.reports[max(l.reports)] for l in self.lines.values()
                  if l.state == "done" and l.reports and max(l.reports) >= self.max_budget - 1e-9]
        if not finals:
            return False
        mean, sd = self.judge(dict(line.reports), line.suggestion.config)
        return bool(np.isfinite(sd) and mean - HOPELESS_Z * sd > min(finals))

    def score(self, line: _Line) -> float:
        """What a rung ranks a configuration by: the judge's predicted final cost, else its last cost."""
        if self.judge is not None:
            return self.judge(dict(line.reports), line.suggestion.config)[0]
        return line.reports[max(line.reports)]

    # --- results ----------------------------------------------------------------------------------

    def tell(self, suggestion: Suggestion, cost: float | None) -> None:
        line = self._line(suggestion)
        halted = line.state in ("pausing", "stopping")
        line.state = {"pausing": "paused", "stopping": "stopped"}.get(line.state, "done")
        if line.told:
            return
        line.told = True
        if cost is not None and halted and line.reports:
            cost = self.judge(dict(line.reports), line.suggestion.config)[0] if self.judge else cost
        self.searcher.tell(line.suggestion, cost)

    def pending(self, suggestion: Suggestion) -> None:
        """An ask replayed from the journal: a paused configuration's resumption, or a new one."""
        key = config_key(suggestion.config)
        line = self.lines.get(key)
        if line is not None and line.state == "paused" and line.scores:
            line.promoted.add(max(line.scores))
            line.state = "running"
            return
        if line is None:
            self._new_line(Suggestion(suggestion.config, self.max_budget, suggestion.origin, suggestion.seed))
            self.searcher.pending(suggestion)

    def _line(self, suggestion: Suggestion) -> _Line:
        key = config_key(suggestion.config)
        if key not in self.lines:  # told about a trial it never asked (a study started by another strategy)
            self.lines[key] = _Line(Suggestion(suggestion.config, self.max_budget, suggestion.origin, suggestion.seed))
        return self.lines[key]

    def n_ready(self) -> int:
        return 0  # decided as slots free: a promotion may come before the next new configuration

    def close(self) -> None:
        self.searcher.close()
