"""Shared fixtures: offline Hugging Face, a study root per test, the quadratic command job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")



def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # SMAC's choices depend on set iteration order: pin the hash seed so that tests are
        # deterministic. It must be set before the interpreter starts, hence the re-exec.
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.stop_global_capturing()
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


from hypothesis import settings as _hyp_settings

# deterministic property tests in CI; `HYPOTHESIS_PROFILE=explore pytest ...` searches further
_hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
_hyp_settings.register_profile("explore", derandomize=False, max_examples=2000)
_hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TESTS = Path(__file__).parent
SCRIPTS = TESTS / "scripts"
SHARED = TESTS.parent.parent / "shared"
if (SHARED / "datasets").is_dir():
    os.environ.setdefault("ORCH_DATASETS", str(SHARED / "datasets"))

QUADRATIC_SPACE = """\
x: {type: float, low: -1.0, high: 1.0}
y: {type: float, low: -1.0, high: 1.0}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def quad_space(tmp_path: Path) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(QUADRATIC_SPACE)
    return p


def quad_command(extra: str = "") -> str:
    return f"{sys.executable} {SCRIPTS / 'quadratic.py'} --x {{x}} --y {{y}} {extra}".strip()


def orch_cmd() -> list[str]:
    return [sys.executable, "-m", "orchestrator.cli"]


def cluster_down_reason() -> str:
    """Why the real SLURM tests cannot run here ("" when the dev cluster answers)."""
    import subprocess

    from orchestrator.executors.slurm import slurm_available

    if not slurm_available():
        return "sbatch/sacct not on PATH: start the dev cluster with slurm/cluster-up.sh"
    if subprocess.run(["scontrol", "ping"], capture_output=True).returncode != 0:
        return "slurmctld does not answer: start the dev cluster with slurm/cluster-up.sh"
    return ""
