"""Pure SLURM pieces: sacct parsing, sbatch errors, options, profiles, templates (literal text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.executors.profile import SlurmOptions, find_profile, load_profile
from orchestrator.executors.slurm_text import (
    expand_job_ids,
    is_terminal,
    max_array_size,
    parse_config,
    parse_sacct,
    sbatch_error_option,
    sbatch_error_text,
    status_from_slurm,
)
from orchestrator.templates import render
from orchestrator.trial import TrialStatus

SACCT = """\
12_0|COMPLETED|0:0|node1|00:00:05
12_1|FAILED|1:0|node1|00:00:02
12_1.batch|FAILED|1:0|node1|00:00:02
12_[2-4,7%2]|PENDING|0:0|None assigned|00:00:00
13|CANCELLED by 0|0:15|node2|00:01:00
14|TIMEOUT|0:0|node1|00:01:30
15|NODE_FAIL|0:0|node3|00:00:40
16|PREEMPTED|0:0|node3|00:00:40
16|RUNNING|0:0|node1|00:00:03
17|OUT_OF_MEMORY|0:125|node1|00:00:09
"""


def test_parse_sacct() -> None:
    rows = parse_sacct(SACCT)
    assert rows["12_0"].state == "COMPLETED" and rows["12_0"].node == "node1"
    assert rows["12_1"].state == "FAILED" and rows["12_1"].exit_code == "1:0"
    assert {k for k in rows if k.startswith("12_")} == {"12_0", "12_1", "12_2", "12_3", "12_4", "12_7"}
    assert rows["12_3"].state == "PENDING"
    assert rows["13"].state == "CANCELLED"
    assert rows["16"].state == "RUNNING"  # requeued after preemption: the latest record wins
    assert rows["17"].state == "OUT_OF_MEMORY"


def test_states_map_to_trial_status() -> None:
    assert status_from_slurm("TIMEOUT") is TrialStatus.TIMEOUT
    assert status_from_slurm("NODE_FAIL") is TrialStatus.PREEMPTED
    assert status_from_slurm("CANCELLED by 1000") is TrialStatus.CANCELLED
    assert status_from_slurm("OUT_OF_MEMORY") is TrialStatus.CRASHED
    assert status_from_slurm("REQUEUED") is TrialStatus.PENDING
    assert status_from_slurm("SOMETHING_NEW") is TrialStatus.RUNNING  # unknown: keep waiting
    assert is_terminal("FAILED") and not is_terminal("PENDING") and not is_terminal("RUNNING")


def test_expand_job_ids() -> None:
    assert expand_job_ids("5_[0-2]") == ["5_0", "5_1", "5_2"]
    assert expand_job_ids("5_[3,9%4]") == ["5_3", "5_9"]
    assert expand_job_ids("77") == ["77"]


@pytest.mark.parametrize(
    "stderr, option",
    [
        ("sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: "
         "Invalid partition name specified", "--partition"),
        ("sbatch: error: Invalid generic resource (gres) specification", "--gres"),
        ("allocation failure: Invalid account or account/partition combination specified", "--account"),
        ("allocation failure: Invalid qos specification", "--qos"),
        ("allocation failure: Invalid feature specification", "--constraint"),
        ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, "
         "user's size and/or time limits)", "submit limit"),
        ("sbatch: error: AssocMaxSubmitJobLimit", "submit limit"),
        ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy", "accounting or QOS"),
        ("allocation failure: Requested node configuration is not available", "--gres / --cpus-per-task"),
    ],
)
def test_sbatch_errors_name_the_option(stderr: str, option: str) -> None:
    text = sbatch_error_text(stderr)
    assert "\n" not in text and not text.startswith("sbatch: error")
    assert option in sbatch_error_option(text)


def test_scontrol_config() -> None:
    cfg = parse_config("Configuration data as of 2026-11-30\nMaxArraySize            = 100\nMaxJobCount = 10000\n")
    assert max_array_size(cfg) == 100 and max_array_size({}) == 1001


def test_options_validate_merge_and_extra(tmp_path: Path) -> None:
    prof = tmp_path / "cluster.toml"
    prof.write_text('partition = "gpu"\ngres = "gpu:1"\ncpus_per_task = 4\nsetup = ["module load cuda"]\n'
                    'sbatch_extra = ["--mail-type=FAIL", "#SBATCH --exclusive"]\n')
    base = load_profile(find_profile(str(prof)))
    cli = SlurmOptions(partition="a100", mem="16G", setup=("source venv/bin/activate",))
    merged = base.merged(cli)
    assert merged.partition == "a100" and merged.gres == "gpu:1" and merged.mem == "16G"
    assert merged.setup == ("module load cuda", "source venv/bin/activate")
    assert merged.extra_parameters() == {"mail-type": "FAIL", "exclusive": True}
    assert SlurmOptions.from_dict(merged.to_dict()) == merged
    with pytest.raises(ConfigError, match="unknown SLURM option 'partiton'"):
        SlurmOptions.from_dict({"partiton": "gpu"}, source=str(prof))
    with pytest.raises(ConfigError, match="'cpus_per_task' must be a positive integer"):
        SlurmOptions.from_dict({"cpus_per_task": "four"})
    with pytest.raises(ConfigError, match="--sbatch-extra: expected an sbatch option"):
        SlurmOptions(sbatch_extra=("reservation=x",)).extra_parameters()
    bad = tmp_path / "bad.toml"
    bad.write_text("partition = \n")
    with pytest.raises(ConfigError, match=f"{bad}: invalid TOML"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="--profile: .* not found"):
        find_profile(str(tmp_path / "missing.toml"))


def test_template_render() -> None:
    assert render("a={{x}} b={{y}} ${BASH_VAR} %A_%a", {"x": 1, "y": "two"}) == "a=1 b=two ${BASH_VAR} %A_%a"
    with pytest.raises(KeyError):
        render("{{missing}}", {})
