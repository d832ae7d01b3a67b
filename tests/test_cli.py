"""The command line: bad input is exit code 2 and one line on stderr; --help imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import orch_cmd, quad_command


def orch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orch_cmd(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def assert_one_line_error(p: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("orch: error: ")
    assert "Traceback" not in p.stderr + p.stdout
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, needles",
    [
        (["tune", "--trials", "abc"], ["--trials", "valid integer"]),
        (["tune", "--trials", "0"], ["--trials: must be at least 1"]),
        (["tune", "--parallel", "-1"], ["--parallel: must be at least 1"]),
        (["tune", "--strategy", "bogus"], ["--strategy: unknown strategy 'bogus'"]),
        (["tune", "--job", "bogus"], ["--job: unknown job 'bogus'"]),
        (["tune", "--study", "../escape"], ["--study: invalid study name"]),
        (["tune", "--max-retries", "-3"], ["--max-retries"]),
        (["tune", "--nonsense"], ["No such option", "--nonsense"]),
        (["tune", "--executor", "cloud"], ["--executor: unknown executor 'cloud'"]),
        (["tune", "--resume", "missing"], ["no study 'missing'"]),
        (["status", "missing"], ["no study 'missing'"]),
        (["frobnicate"], ["No such command"]),
    ],
)
def test_bad_cli_values(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    p = orch(*args, "--root", str(tmp_path / "r")) if args[0] != "frobnicate" else orch(*args)
    assert_one_line_error(p, 2, *needles)
    assert not (tmp_path / "r" / "studies").exists() or not any((tmp_path / "r" / "studies").iterdir())


@pytest.mark.parametrize(
    "text, needles",
    [
        ("x: {type: float, low: 1, high: 0}\n", ["hyperparameter 'x'", "low (1) must be below high (0)"]),
        ("x: {type: float, low: 0, high: 1, log: true}\n", ["hyperparameter 'x'", "log scale needs low > 0"]),
        ("x: {type: quantum, low: 0, high: 1}\n", ["hyperparameter 'x'", "unknown type 'quantum'"]),
        ("x: [1, 2\n", ["invalid YAML"]),
    ],
)
def test_malformed_space_files(tmp_path: Path, text: str, needles: list[str]) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(text)
    p = orch("tune", "--root", str(tmp_path / "r"), "--command", quad_command(), "--space", str(space),
             "--objective", "loss")
    assert_one_line_error(p, 2, str(space), *needles)
    assert not (tmp_path / "r").exists()


def test_command_needs_space_and_objective(tmp_path: Path, quad_space: Path) -> None:
    assert_one_line_error(orch("tune", "--command", "true", "--root", str(tmp_path)), 2, "--command needs --space")
    assert_one_line_error(orch("tune", "--command", "true", "--space", str(quad_space), "--root", str(tmp_path)),
                          2, "--command needs --objective")


def test_help_does_not_import_heavy_libraries() -> None:
    code = ("import sys; from orchestrator.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'smac', 'ConfigSpace', 'transformers', 'pandas', 'submitit', 'sklearn') "
            "if m in sys.modules]\nprint('HEAVY', heavy)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in p.stdout, p.stdout + p.stderr
    assert "tune" in p.stdout and "status" in p.stdout


def test_jobs_lists_the_default_job() -> None:
    p = orch("jobs")
    assert p.returncode == 0 and "digits-mlp" in p.stdout and "learning_rate" in p.stdout
