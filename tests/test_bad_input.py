"""Property-based tests over space files, CLI values and damaged study files: a clear one-line error
naming the thing (and a non-zero exit), never a traceback, never a silently wrong answer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ConfigSpace import ConfigurationSpace

from orchestrator.cli import main
from orchestrator.errors import ConfigError
from orchestrator.session import TuneRequest, prepare
from orchestrator.space import space_from_yaml

from conftest import quad_command

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
hp_spec = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.sampled_from(["type", "low", "high", "log", "default", "choices", "sequence", "value",
                                     "condition", "bogus"]),
                    st.one_of(scalars, st.lists(scalars, max_size=3),
                              st.sampled_from(["float", "int", "categorical", "ordinal", "constant", "x == 1"])),
                    max_size=6),
)
spaces = st.dictionaries(st.text(alphabet="abcdefxyz_", min_size=1, max_size=6), hp_spec, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces)
def test_any_space_document_builds_or_fails_in_one_line(doc: dict) -> None:
    text = yaml.safe_dump(doc)
    try:
        cs = space_from_yaml(text, "s.yaml")
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith("s.yaml") and "\n" not in msg
        return
    assert isinstance(cs, ConfigurationSpace) and len(cs) == len(doc)
    cs.sample_configuration()  # a space that loads is a space that samples


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_any_text_as_a_space_file(text: str) -> None:
    try:
        space_from_yaml(text, "t.yaml")
    except ConfigError as e:
        assert str(e).startswith("t.yaml") and "\n" not in str(e)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trials=st.integers(-5, 3), parallel=st.integers(-3, 3), retries=st.integers(-2, 2),
       strategy=st.sampled_from(["random", "grid", "smac", "bogus", "", "meta-smac"]),
       grid_points=st.integers(-1, 3), epochs=st.one_of(st.none(), st.integers(-2, 2)))
def test_study_options_are_validated_before_anything_is_written(tmp_path: Path, quad_space: Path, trials: int,
                                                                parallel: int, retries: int, strategy: str,
                                                                grid_points: int, epochs: int | None) -> None:
    root = tmp_path / "r"
    shutil.rmtree(root, ignore_errors=True)
    req = TuneRequest(root=root, study="p", command=quad_command(), space=str(quad_space), objective="loss",
                      strategy=strategy, trials=trials, parallel=parallel, max_retries=retries,
                      grid_points=grid_points, epochs=epochs)
    valid = trials >= 1 and parallel >= 1 and retries >= 0 and grid_points >= 1 and (epochs is None or epochs >= 1) \
        and strategy in ("random", "grid", "smac", "meta-smac")
    try:
        loop, _ = prepare(req)
    except ConfigError as e:
        assert not valid, e
        assert "\n" not in str(e)
        assert not (root / "studies" / "p").exists()  # nothing half-written
        return
    assert valid
    loop.optimizer.close()
    assert (root / "studies" / "p" / "study.json").exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--trials", "--parallel", "--seed", "--max-retries", "--epochs", "--grid-points"]),
       value=st.text(alphabet="abc-.+ 1e", min_size=1, max_size=6).filter(lambda v: not v.strip().lstrip("-").isdigit()))
def test_non_numbers_for_numeric_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str) -> None:
    code = main(["tune", flag, value, "--root", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("orch: error: ") and flag in err


damage = st.one_of(st.binary(max_size=64), st.just(b""), st.just(b"{"), st.just(b'{"name": 3}'),
                   st.just(b'{"schema_version": 1}'), st.just(b"[1, 2]"), st.just(b"\xff\xfe\x00"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fin") / "r"
    space = root.parent / "space.yaml"
    space.write_text("x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n")
    loop, notes = prepare(TuneRequest(root=root, study="s", command=quad_command(), space=str(space),
                                      objective="loss", minimize=True, strategy="random", trials=3))
    loop.run(notes)
    return root


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["study.json", "journal.jsonl", "space.json"]), data=damage)
def test_damaged_study_files_give_one_line_naming_the_file(finished: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str], which: str,
                                                           data: bytes) -> None:
    root = tmp_path / "copy"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(finished, root)
    target = root / "studies" / "s" / which
    if which == "journal.jsonl":  # damage in the middle: a valid event follows
        lines = target.read_bytes().split(b"\n")
        target.write_bytes(b"\n".join([lines[0], data.replace(b"\n", b" ") or b"x", *lines[1:]]))
    else:
        target.write_bytes(data)
    code = main(["tune", "--resume", "s", "--root", str(root)])
    out = capsys.readouterr()
    assert code in (1, 2), out
    assert "Traceback" not in out.err + out.out
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and which in lines[0], out.err


def test_a_damaged_meta_dataset_file_is_skipped_by_name(finished: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "copy"
    shutil.copytree(finished, root)
    (root / "metadataset" / "zz-broken.csv").write_bytes(b"schema_version,study,task\n1,\"x\n\xff")
    (root / "metadataset" / "old.csv").write_text(
        "schema_version,study,task,job,objective,direction,status,value\n9,a,b,c,d,minimize,SUCCESS,1\n")
    assert main(["meta", "list", "--root", str(root)]) == 0
    out = capsys.readouterr()
    assert ":custom" in out.out
    assert "zz-broken.csv" in out.err and "old.csv: meta-dataset schema version [9]" in out.err
    assert "Traceback" not in out.err
    assert json.loads(json.dumps({"ok": True}))


def one_line_error(capsys: pytest.CaptureFixture[str], args: list[str], *needles: str) -> None:
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("orch: error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("args, needles", [
    (["--job", "fnn-regression", "-o", "targt=quality"], ["-o targt", "target"]),  # a typo: another column
    (["--job", "digits-mlp", "--data", "wine-red"], ["--data", "digits-mlp"]),
    (["--job", "fnn-regression", "--fix", "learning_rate=5"], ["learning_rate", "outside", "[0.0001, 0.01]"]),
    (["--command", "true {x}", "--space", "{quad}", "--objective", "loss", "--fix", "x=5"], ["'x'=5", "[-1, 1]"]),
    (["--command", "true {x}", "--space", "{quad}", "--objective", "loss", "-o", "lr=1"], ["-o lr"]),
    (["--job", "branin", "--task-name", "mine"], ["--task-name", "--command"]),
    (["--job", "branin", "--epochs", "2", "-o", "epochs=3"], ["--epochs 2", "epochs=3"]),
])
def test_silent_mistakes_are_refused(tmp_path: Path, quad_space: Path, capsys: pytest.CaptureFixture[str],
                                     args: list[str], needles: list[str]) -> None:
    root = tmp_path / "r"
    one_line_error(capsys, ["tune", "--root", str(root), *[a.replace("{quad}", str(quad_space)) for a in args]],
                   *needles)
    assert not root.exists()  # nothing written


def test_a_resume_refuses_what_it_cannot_apply_and_applies_the_rest(tmp_path: Path, quad_space: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "r")
    base = ["--command", quad_command(), "--space", str(quad_space), "--objective", "loss", "--minimize"]
    assert main(["tune", "--root", root, "--study", "s", *base, "--strategy", "random", "--trials", "4", "-q"]) == 0
    capsys.readouterr()
    journal = (tmp_path / "r" / "studies" / "s" / "journal.jsonl").read_text()
    for extra, flag in ((["--strategy", "smac"], "--strategy"), (["--seed", "3"], "--seed"),
                        (["--objective", "x"], "--objective"), (["--command", "true"], "--command"),
                        (["--job", "branin"], "--job"), (["--partition", "gpu"], "--partition")):
        one_line_error(capsys, ["tune", "--root", root, "--resume", "s", *extra], flag, "resumed study keeps")
    one_line_error(capsys, ["tune", "--root", root, "--resume", "s", "--trials", "3"], "--trials 3", "4 finished")
    assert (tmp_path / "r" / "studies" / "s" / "journal.jsonl").read_text() == journal  # nothing recorded
    assert main(["tune", "--root", root, "--resume", "s", "--trials", "5", "--max-retries", "0", "-q"]) == 0
    spec = json.loads((tmp_path / "r" / "studies" / "s" / "study.json").read_text())
    assert spec["n_trials"] == 5 and spec["max_retries"] == 0


def test_a_read_only_results_root_is_one_line(tmp_path: Path, quad_space: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A results root on a read-only filesystem (a read-only bind mount: root ignores file permissions)."""
    import subprocess

    root = tmp_path / "r"
    base = ["--command", quad_command(), "--space", str(quad_space), "--objective", "loss", "--strategy", "random"]
    assert main(["tune", "--root", str(root), "--study", "s", *base, "--trials", "2", "-q"]) == 0
    capsys.readouterr()
    if subprocess.run(["mount", "-o", "bind,ro", str(root), str(root)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only bind mount here")
    try:
        one_line_error(capsys, ["tune", "--root", str(root), "--study", "t", *base], "--root: cannot write",
                       "Read-only file system")
        one_line_error(capsys, ["tune", "--root", str(root), "--resume", "s", "--trials", "3"],
                       "--root: cannot write")
        one_line_error(capsys, ["tune", "--root", str(root), "--resume", "s"], "--root: cannot write")
    finally:
        subprocess.run(["umount", str(root)], check=True)
    assert not (root / "studies" / "t").exists()
    assert json.loads((root / "studies" / "s" / "study.json").read_text())["n_trials"] == 2
