"""StudyStore: one study folder, the single source of truth for its trials.

Write order for a trial: journal ``asked`` -> ``config.json`` -> submission -> journal
``submitted`` -> the job writes ``result.json`` -> journal ``finished`` -> trials.csv and
metadataset/<study>.csv rebuilt. Any prefix of that sequence is a state resume can continue from.
A strategy that acts on learning curves adds ``progress`` (an epoch's value it was given, with its
decision) and ``halt`` (a running trial stopped or paused) between ``submitted`` and ``finished``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, StoreCorrupt, StudyLocked
from orchestrator.spec import StudySpec
from orchestrator.store.atomic import atomic_write_json, atomic_write_text, read_json, refresh
from orchestrator.store.journal import Journal
from orchestrator.store.paths import StudyPaths, TrialPaths, check_study_name
from orchestrator.trial import Trial, TrialResult, TrialStatus

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


@dataclass
class TrialRecord:
    """What the journal says about one trial (mutable only while replaying)."""

    trial: Trial
    handle: dict[str, Any] | None = None
    result: TrialResult | None = None
    retries: list[str] = field(default_factory=list)
    #: (attempt, epoch, value) of every intermediate result its strategy was given, in order
    points: list[tuple[int, float, float]] = field(default_factory=list)
    halt: str = ""  # "stop" or "pause": halted, its result not recorded yet

    @property
    def finished(self) -> bool:
        return self.result is not None


@dataclass
class StudyState:
    records: dict[str, TrialRecord] = field(default_factory=dict)
    #: ("asked", trial id, None), ("progress", trial id, (epoch, value)) and ("finished", trial id, None)
    #: in journal order: how a strategy that acts on learning curves is replayed
    events: list[tuple[str, str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.finished]

    @property
    def pending(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if not r.finished]

    def next_trial_number(self) -> int:
        return max((int(t) for t in self.records if t.isdigit()), default=-1) + 1


class StudyStore:
    def __init__(self, paths: StudyPaths, spec: StudySpec) -> None:
        self.paths = paths
        self.spec = spec
        self.journal = Journal(paths.journal)

    # --- creating and opening ------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, spec: StudySpec, space_json: str) -> StudyStore:
        paths = StudyPaths(root, check_study_name(spec.name))
        if paths.study.exists():
            raise ConfigError(
                f"--study: study '{spec.name}' already exists under {paths.dir}; "
                f"continue it with --resume {spec.name} or pick another name"
            )
        with writable(root):
            paths.trials_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(paths.space, space_json)
            atomic_write_json(paths.study, spec.to_dict())  # last: its presence marks a complete study folder
            store = cls(paths, spec)
            store.journal.append("created", study=spec.name)
        return store

    @classmethod
    def open(cls, root: Path, name: str) -> StudyStore:
        paths = StudyPaths(root, check_study_name(name))
        if not paths.study.exists():
            raise ConfigError(f"--resume: no study '{name}' under {root / 'studies'} (study.json not found)")
        data = read_json(paths.study, "study.json")
        try:
            spec = StudySpec.from_dict(data)
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise StoreCorrupt(f"{paths.study}: corrupt study.json: {_describe(e)}") from None
        return cls(paths, spec)

    def update_spec(self, spec: StudySpec) -> None:
        with writable(self.paths.root):
            atomic_write_json(self.paths.study, spec.to_dict())
        self.spec = spec

    def load_space(self) -> ConfigurationSpace:
        from orchestrator.space import space_from_json

        try:
            text = self.paths.space.read_text()
        except OSError as e:
            raise StoreCorrupt(f"{self.paths.space}: cannot read space.json: {e.strerror}") from None
        except UnicodeDecodeError:
            raise StoreCorrupt(f"{self.paths.space}: corrupt space.json: not UTF-8 text") from None
        try:
            return space_from_json(text, source=str(self.paths.space), strict=True)
        except ConfigError as e:
            raise StoreCorrupt(f"corrupt space.json: {e}") from None

    # --- the controller lock -------------------------------------------------------------------

    def controller(self) -> dict[str, Any] | None:
        """The live controller holding the study's lock ({"pid", "host"}), None when there is none."""
        owner = _read_lock(self.paths.lock)
        return owner if owner and _alive(owner) else None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Only one live controller per study; a lock left by a dead one (same host) is taken over."""
        lock = self.paths.lock
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        for _ in range(2):
            try:
                with writable(self.paths.root):
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.controller()
                if owner:
                    raise StudyLocked(
                        f"{lock}: study '{self.spec.name}' is being run by pid {owner.get('pid')} on "
                        f"{owner.get('host')}; stop that controller first"
                    ) from None
                lock.unlink(missing_ok=True)  # stale: its controller is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{me['pid']} {me['host']} {me['since']}\n")
            break
        else:
            raise StudyLocked(f"{lock}: could not take the study lock")
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    # --- trials ---------------------------------------------------------------------------------

    def trial_paths(self, trial_id: str) -> TrialPaths:
        return self.paths.trial(trial_id)

    def add_trial(self, trial: Trial) -> None:
        warm_from = self.warm_from(trial)
        self.journal.append("asked", trial=trial.to_dict(), **({"warm_from": warm_from} if warm_from else {}))
        self.write_trial_config(trial)

    def warm_from(self, trial: Trial) -> str | None:
        """The checkpoint folder a trial continues (``trial.continues``: the same configuration at a lower
        budget, a Hyperband promotion or a paused trial resumed), copied by the worker so that training
        goes on instead of restarting; None for a trial that starts afresh."""
        return str(self.trial_paths(trial.continues).checkpoint) if trial.continues else None

    def write_trial_config(self, trial: Trial) -> None:
        """config.json: everything the worker needs to run the trial, written before submission and again
        for each retry (which keeps the checkpoint it continues: ``warm_from``)."""
        warm_from = self.warm_from(trial)
        tp = self.trial_paths(trial.trial_id)
        tp.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(tp.config, {
            "study": self.spec.name,
            "trial": trial.to_dict(),
            "job": self.spec.job.to_dict(),
            "objective": self.spec.task.objective,
            "direction": self.spec.task.direction,
            "budget": trial.budget if trial.budget is not None else self.spec.budget,
            "keep_checkpoint": self.spec.multi_fidelity,
            "warm_start_from": warm_from,
        })

    def record_submitted(self, trial: Trial, handle: dict[str, Any]) -> None:
        self.journal.append("submitted", trial_id=trial.trial_id, attempt=trial.attempt, handle=handle)

    def record_retry(self, trial: Trial, reason: str) -> None:
        # the attempt's result is kept beside the trial before the retry overwrites it
        tp = self.trial_paths(trial.trial_id)
        if tp.result.exists():
            os.replace(tp.result, tp.dir / f"result.attempt{trial.attempt}.json")
        self.journal.append("retry", trial_id=trial.trial_id, attempt=trial.attempt + 1, reason=reason)

    def record_progress(self, trial: Trial, epoch: float, value: float, decision: str) -> None:
        self.journal.append("progress", trial_id=trial.trial_id, attempt=trial.attempt, epoch=epoch, value=value,
                            decision=decision)

    def record_halt(self, trial: Trial, decision: str, reason: str) -> None:
        self.journal.append("halt", trial_id=trial.trial_id, attempt=trial.attempt, decision=decision, reason=reason)

    def record_finished(self, trial: Trial, result: TrialResult) -> None:
        self.journal.append("finished", trial_id=trial.trial_id, attempt=trial.attempt, result=result.to_dict())

    def read_result(self, trial_id: str) -> TrialResult | None:
        """The job's result.json, or None if there is none yet. A corrupt file is a CRASHED result."""
        path = self.trial_paths(trial_id).result
        if not path.exists():
            refresh(path)
            if not path.exists():
                return None
        try:
            data = read_json(path, "result file")
            if not isinstance(data, dict):
                raise StoreCorrupt(f"{path}: corrupt result file: expected a JSON object")
            return TrialResult.from_dict(data)
        except FileNotFoundError:
            return None
        except StoreCorrupt as e:
            return TrialResult(status=TrialStatus.CRASHED, error=str(e))
        except (KeyError, ValueError, TypeError) as e:
            return TrialResult(status=TrialStatus.CRASHED, error=f"{path}: corrupt result file: {_describe(e)}")

    def write_result(self, trial_id: str, result: TrialResult) -> None:
        """For a job that ended without writing one (killed, crashed interpreter, scheduler failure)."""
        atomic_write_json(self.trial_paths(trial_id).result, result.to_dict())

    # --- replay ---------------------------------------------------------------------------------

    def state(self) -> StudyState:
        st = StudyState()
        for ev in self.journal.read():
            kind = ev.get("event")
            try:
                if kind == "asked":
                    t = Trial.from_dict(ev["trial"])
                    st.records.setdefault(t.trial_id, TrialRecord(trial=t))
                    st.events.append(("asked", t.trial_id, None))
                    continue
                if kind not in ("submitted", "retry", "finished", "progress", "halt"):
                    continue
                rec = st.records.get(str(ev["trial_id"]))
                if rec is None:
                    raise KeyError(f"trial {ev['trial_id']} was never asked")
                if kind == "submitted":
                    rec.handle = dict(ev["handle"])
                    rec.trial = replace(rec.trial, attempt=int(ev.get("attempt", rec.trial.attempt)))
                elif kind == "retry":
                    rec.handle, rec.result, rec.halt = None, None, ""  # also a crashed trial run again
                    rec.retries.append(str(ev.get("reason", "")))
                    rec.trial = replace(rec.trial, attempt=int(ev["attempt"]))
                elif kind == "progress":
                    point = (float(ev["epoch"]), float(ev["value"]))
                    rec.points.append((int(ev.get("attempt", 0)), *point))
                    st.events.append(("progress", rec.trial.trial_id, point))
                elif kind == "halt":
                    rec.halt = str(ev["decision"])
                else:
                    rec.result = TrialResult.from_dict(ev["result"])
                    rec.halt = ""
                    st.events.append(("finished", rec.trial.trial_id, None))
            except (KeyError, ValueError, TypeError) as e:
                raise StoreCorrupt(f"{self.paths.journal}: corrupt journal event {kind!r}: {_describe(e)}") from None
        return st


def _describe(e: BaseException) -> str:
    if isinstance(e, KeyError):
        return f"missing field {e.args[0]!r}" if e.args else "missing field"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


@contextmanager
def writable(root: Path) -> Iterator[None]:
    """A results root orch cannot write to (read-only, another user's) as one line naming the path."""
    import errno

    try:
        yield
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        where = e.filename or root
        raise ConfigError(f"--root: cannot write {where} ({e.strerror}); give a results root you can write to "
                          "(--root DIR)") from None


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        pid, host, *_ = path.read_text().split()
        return {"pid": int(pid), "host": host}
    except (OSError, ValueError):
        return None


def _alive(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # cannot check another host's process: assume it lives
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
