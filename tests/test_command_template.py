"""--command placeholders of conditional hyperparameters (issue 22, item 2): an inactive one drops its
``--flag {x}`` pair or renders its ``{x:-DEFAULT}``; a bare one is refused before the study starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.command import CommandFailed, check_command, conditional_names, render, unrenderable
from jobs.context import JobContext
from orchestrator.cli import main
from orchestrator.errors import ConfigError

from conftest import SCRIPTS, orch_cmd

COND_SPACE = """\
lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
optimizer: {type: categorical, choices: [adam, sgd]}
momentum: {type: float, low: 0.0, high: 0.99, condition: "optimizer == sgd"}
"""
SCRIPT = f"{sys.executable} {SCRIPTS / 'conditional.py'}"


@pytest.fixture
def cond_space(tmp_path: Path) -> Path:
    p = tmp_path / "cond.yaml"
    p.write_text(COND_SPACE)
    return p


def ctx(budget: float | None = None, **options: object) -> JobContext:
    return JobContext("0003", Path("/tmp/trial dir"), budget, 7, dict(options))


def test_an_inactive_flag_pair_is_dropped_and_a_default_rendered() -> None:
    cmd = "train --lr {lr} --momentum {momentum} --beta={beta} --wd {wd:-0.01} --seed {seed} {{literal}}"
    adam = render(cmd, {"lr": 0.1}, ctx())
    assert adam == "train --lr 0.1 --wd 0.01 --seed 7 {literal}"
    sgd = render(cmd, {"lr": 0.1, "momentum": 0.5, "beta": 0.9, "wd": 0.2}, ctx())
    assert sgd == "train --lr 0.1 --momentum 0.5 --beta=0.9 --wd 0.2 --seed 7 {literal}"
    # no budget: `--epochs {budget}` is dropped rather than left without a value
    assert render("train --epochs {budget} --x {lr}", {"lr": 1.0}, ctx()) == "train --x 1.0"
    assert render("train --epochs {budget} --x {lr}", {"lr": 1.0}, ctx(budget=9.0)) == "train --epochs 9 --x 1.0"
    assert render("train --epochs {epochs}", {"epochs": 4}, ctx()) == "train --epochs 4"  # the space's epochs


def test_a_bare_placeholder_without_value_is_a_clear_crash_not_an_empty_string() -> None:
    with pytest.raises(CommandFailed, match=r"placeholder \{momentum\} has no value"):
        render("train {momentum}", {}, ctx())


def test_which_placeholders_cannot_be_rendered() -> None:
    cond = ["momentum"]
    assert unrenderable("t --momentum {momentum}", cond) == []
    assert unrenderable("t --momentum={momentum} --x 1", cond) == []
    assert unrenderable("t {momentum:-0.9}", cond) == []
    assert unrenderable("t {momentum}", cond) == ["momentum"]
    assert unrenderable("t --m={momentum}x", cond) == ["momentum"]  # not a whole pair
    assert unrenderable('t --m "{momentum}"', cond) == ["momentum"]
    assert unrenderable("t {lr}", cond) == []
    with pytest.raises(ConfigError, match=r"\{momentum\} is a conditional hyperparameter.*'--momentum \{momentum\}'"):
        check_command("t {momentum}", ["lr", "momentum"], cond)
    with pytest.raises(ConfigError, match=r"placeholder\(s\) \{nope\} are not hyperparameters"):
        check_command("t {nope}", ["lr"], cond)
    with pytest.raises(ConfigError, match="malformed template"):
        check_command("t {lr", ["lr"], cond)


def test_conditional_names_of_a_space(cond_space: Path) -> None:
    from orchestrator.space import load_space

    assert conditional_names(load_space(str(cond_space))) == ["momentum"]


def _tune(root: Path, space: Path, command: str, study: str, trials: int = 6) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orch_cmd(), "tune", "--root", str(root), "--study", study, "--command", command,
                           "--space", str(space), "--objective", "loss", "--minimize", "--strategy", "random",
                           "--trials", str(trials), "--parallel", "2", "--seed", "1"],
                          capture_output=True, text=True, timeout=300)


def test_conditional_flag_pair_via_cli_every_trial_succeeds(root: Path, cond_space: Path) -> None:
    p = _tune(root, cond_space, f"{SCRIPT} --lr {{lr}} --optimizer {{optimizer}} --momentum {{momentum}}", "pair")
    assert p.returncode == 0, p.stderr
    trials = sorted((root / "studies" / "pair" / "trials").iterdir())
    seen = set()
    for t in trials:
        result = json.loads((t / "result.json").read_text())
        assert result["status"] == "SUCCESS", result["error"]
        config = json.loads((t / "params.json").read_text())
        seen.add(config["optimizer"])
        rendered = (t / "stdout.log").read_text()
        assert ("--momentum" in rendered) == (config["optimizer"] == "sgd"), rendered
    assert seen == {"adam", "sgd"}


def test_conditional_default_via_cli(root: Path, cond_space: Path) -> None:
    p = _tune(root, cond_space, f"{SCRIPT} --lr {{lr}} --optimizer {{optimizer}} --momentum {{momentum:-0.9}}", "dflt")
    assert p.returncode == 0, p.stderr
    for t in (root / "studies" / "dflt" / "trials").iterdir():
        result = json.loads((t / "result.json").read_text())
        config = json.loads((t / "params.json").read_text())
        assert result["status"] == "SUCCESS"
        assert result["metrics"]["momentum_used"] == pytest.approx(config.get("momentum", 0.9))


def test_a_bare_conditional_placeholder_is_refused_at_start(root: Path, cond_space: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tune", "--root", str(root), "--command", f"{SCRIPT} --lr {{lr}} {{momentum}}", "--space",
                 str(cond_space), "--objective", "loss", "--minimize", "--trials", "2"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("orch: error: --command: {momentum} is a conditional hyperparameter")
    assert not root.exists()  # nothing written


def test_a_bare_conditional_placeholder_is_refused_at_start_end_to_end(root: Path, cond_space: Path) -> None:
    p = subprocess.run([*orch_cmd(), "tune", "--root", str(root), "--command", f"{SCRIPT} --lr {{lr}} {{momentum}}",
                        "--space", str(cond_space), "--objective", "loss", "--minimize", "--trials", "1"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "{momentum} is a conditional hyperparameter" in p.stderr
    assert not root.exists()
