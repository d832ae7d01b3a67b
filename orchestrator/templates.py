"""Standalone sbatch array scripts (`orch sbatch`) and gathering their results (`orch ingest`).

For clusters where no long-running controller is allowed: orch writes the trials' config.json
files and a readable sbatch array script; plain `sbatch` runs them; `orch ingest` records every
result.json that landed into the study, trials.csv and the meta-dataset.
"""

from __future__ import annotations

import csv
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.executors.profile import SlurmOptions
from orchestrator.optimizers.base import Exhausted, Optimizer
from orchestrator.store.atomic import atomic_write_text
from orchestrator.store.export import export_study
from orchestrator.store.study import StudyStore
from orchestrator.trial import Trial, format_trial_id

TEMPLATE = Path(__file__).resolve().parent.parent / "slurm" / "array.sbatch.tmpl"
_FIELD = re.compile(r"\{\{(\w+)\}\}")


def render(template: str, fields: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in fields:
            raise KeyError(f"template field {m.group(1)!r} has no value")
        return str(fields[m.group(1)])

    return _FIELD.sub(sub, template)


def configs_from_csv(path: Path, names: list[str]) -> list[dict[str, Any]]:
    """Configurations from a CSV whose columns are hyperparameter names (or hp:<name>)."""
    from orchestrator.space import number_or_text, plain

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ConfigError(f"--csv: cannot read {path}: {e.strerror}") from None
    if not rows:
        raise ConfigError(f"--csv: {path} has no rows")
    out = []
    for row in rows:
        config: dict[str, Any] = {}
        for name in names:
            raw = row.get(name, row.get(f"hp:{name}", ""))
            if raw is None or raw == "":
                continue
            config[name] = plain(number_or_text(raw))
        out.append(config)
    return out




@dataclass(frozen=True)
class ArrayScripts:
    scripts: list[Path]
    trials: list[Trial]


def write_array(store: StudyStore, optimizer: Optimizer | None, n: int, parallel: int, options: SlurmOptions,
                source: str, configs: list[dict[str, Any]] | None = None, max_array: int = 1001,
                python: str | None = None) -> ArrayScripts:
    """Create ``n`` trials (from the optimiser, or ``configs``) and the sbatch array script(s) that run them."""
    from orchestrator.space import to_configuration

    state = store.state()
    number = state.next_trial_number()
    trials: list[Trial] = []
    if configs is not None:
        space = store.load_space()
        for values in configs[:n]:
            to_configuration(space, values)  # validates against the study's space
            trials.append(Trial(format_trial_id(number + len(trials)), values, store.spec.budget, store.spec.seed,
                                0, source))
    else:
        assert optimizer is not None
        for _ in range(n):
            try:
                s = optimizer.ask()
            except Exhausted:
                break
            trials.append(Trial(format_trial_id(number + len(trials)), s.config,
                                s.budget if s.budget is not None else store.spec.budget,
                                store.spec.seed if s.seed is None else int(s.seed), 0, s.origin))
    if not trials:
        raise ConfigError(f"orch sbatch: the {source} source gave no configurations")
    out_dir = store.paths.dir / "sbatch"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    template = TEMPLATE.read_text()
    scripts = []
    chunks = [trials[i:i + max_array] for i in range(0, len(trials), max_array)]
    for k, chunk in enumerate(chunks, start=1):
        name = f"array-{stamp}" + (f"-{k}" if len(chunks) > 1 else "")
        script = out_dir / f"{name}.sbatch"
        trial_list = out_dir / f"{name}.trials"
        for t in chunk:
            store.add_trial(t)
            store.record_submitted(t, {"backend": "template", "script": str(script)})
        atomic_write_text(trial_list, "".join(f"{store.trial_paths(t.trial_id).dir.resolve()}\n" for t in chunk))
        flags = sbatch_lines(options)
        text = render(template, {
            "n": len(chunk), "study": store.spec.name, "source": source, "date": time.strftime("%Y-%m-%d %H:%M"),
            "script": shlex.quote(str(script)), "root": shlex.quote(str(store.paths.root)),
            "job_name": options.job_name or f"orch-{store.spec.name}", "last": len(chunk) - 1,
            "parallel": max(1, parallel), "log_dir": out_dir.resolve() / "logs", "sbatch_lines": flags,
            "setup_lines": "\n".join(options.setup), "trial_list": shlex.quote(str(trial_list.resolve())),
            "python": shlex.quote(python or options.python or sys.executable),
        })
        atomic_write_text(script, text)
        script.chmod(0o755)
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
        scripts.append(script)
    return ArrayScripts(scripts, trials)


def sbatch_lines(options: SlurmOptions) -> str:
    """The options as #SBATCH lines (the template names the job itself)."""
    return "\n".join(f"#SBATCH {flag}" for flag in options.sbatch_flags(skip=("job-name",)))


@dataclass(frozen=True)
class IngestReport:
    ingested: list[str]
    missing: list[str]
    already: int


def ingest(store: StudyStore) -> IngestReport:
    """Record every result.json that is not yet in the journal; rebuild trials.csv and the meta-dataset."""
    with store.locked():
        state = store.state()
        ingested, missing = [], []
        for rec in state.records.values():
            if rec.result is not None:
                continue
            result = store.read_result(rec.trial.trial_id)
            if result is None:
                missing.append(rec.trial.trial_id)
                continue
            store.record_finished(rec.trial, result)
            rec.result = result
            ingested.append(rec.trial.trial_id)
        export_study(store, state.records.values())
    return IngestReport(ingested, missing, len(state.records) - len(ingested) - len(missing))
