"""Search spaces from YAML, ConfigSpace JSON and presets; every malformed file is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from ConfigSpace import ConfigurationSpace
from ConfigSpace.hyperparameters import CategoricalHyperparameter as Categorical
from ConfigSpace.hyperparameters import Constant, OrdinalHyperparameter
from ConfigSpace.hyperparameters import UniformFloatHyperparameter as Float
from ConfigSpace.hyperparameters import UniformIntegerHyperparameter as Integer

from orchestrator.errors import ConfigError
from orchestrator.space import fix_hyperparameters, load_space, space_from_yaml, space_to_json

from jobs.registry import JOBS, presets

FULL = """\
lr: {type: float, low: 1e-5, high: 1.0e-1, log: true, default: 1e-3}
batch_size: {type: int, low: 16, high: 256, log: true}
optimizer: {type: categorical, choices: [adam, sgd]}
momentum: {type: float, low: 0.0, high: 0.99, condition: "optimizer == sgd"}
nesterov: {type: categorical, choices: [true, false], condition: {parent: optimizer, in: [sgd]}}
width: [64, 128, 256]
activation: [relu, gelu]
seed: 7
layers: {type: ordinal, sequence: [1, 2, 4]}
"""


def test_yaml_builds_every_kind() -> None:
    cs = space_from_yaml(FULL, "full.yaml")
    assert isinstance(cs["lr"], Float) and cs["lr"].log and cs["lr"].lower == pytest.approx(1e-5)
    assert isinstance(cs["batch_size"], Integer) and cs["batch_size"].upper == 256
    assert isinstance(cs["optimizer"], Categorical)
    assert isinstance(cs["width"], OrdinalHyperparameter) and list(cs["width"].sequence) == [64, 128, 256]
    assert isinstance(cs["activation"], Categorical)
    assert isinstance(cs["seed"], Constant) and cs["seed"].value == 7
    assert {c.child.name for c in cs.conditions} == {"momentum", "nesterov"}
    sample = dict(cs.sample_configuration())
    assert ("momentum" in sample) == (sample["optimizer"] == "sgd")


def test_json_round_trip(tmp_path: Path) -> None:
    cs = space_from_yaml(FULL, "full.yaml")
    p = tmp_path / "space.json"
    p.write_text(space_to_json(cs))
    assert load_space(p) == cs


def test_yaml_file_and_presets(tmp_path: Path) -> None:
    p = tmp_path / "s.yml"
    p.write_text(FULL)
    assert "lr" in load_space(p)
    for name in JOBS:
        cs = load_space(name, presets=presets())
        assert isinstance(cs, ConfigurationSpace) and len(cs) > 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lr: {type: float, low: 0.1, high: 0.01}", "hyperparameter 'lr': low (0.1) must be below high (0.01)"),
        ("lr: {type: float, low: 0, high: 1, log: true}", "hyperparameter 'lr': log scale needs low > 0"),
        ("lr: {type: floaty, low: 0, high: 1}", "hyperparameter 'lr': unknown type 'floaty'"),
        ("lr: {type: float, low: 0}", "hyperparameter 'lr': missing 'high'"),
        ("lr: {type: float, low: a, high: 1}", "hyperparameter 'lr': 'low' must be a finite number"),
        ("lr: {type: float, low: 0, high: 1, default: 2}", "hyperparameter 'lr': default 2 outside [0, 1]"),
        ("n: {type: int, low: 1.5, high: 4}", "hyperparameter 'n': int bounds must be whole numbers"),
        ("o: {type: categorical, choices: []}", "hyperparameter 'o': categorical needs a non-empty list"),
        ("o: {type: categorical, choices: [a, a]}", "hyperparameter 'o': duplicate choices"),
        ("o: {type: categorical, choices: [a, b], default: c}", "hyperparameter 'o': default 'c' is not one of"),
        ("lr: {type: float, low: 0, high: 1, lgo: true}", "hyperparameter 'lr': unknown key(s) lgo"),
        ("lr: {type: float, low: 0, high: 1, condition: 'opt == sgd'}", "condition refers to unknown hyperparameter 'opt'"),
        ("o: [a, b]\nm: {type: float, low: 0, high: 1, condition: 'o == c'}", "condition value 'c' is not a value of 'o'"),
        ("lr: {type: float, low: 0, high: 1, log: maybe}", "'log' must be true or false"),
        ("c: {type: constant}", "hyperparameter 'c': constant needs 'value'"),
        ("lr: {type: float, low: 0, high: 1\n", "invalid YAML at line"),
        ("- a\n- b\n", "expected a mapping of hyperparameter names"),
        ("", "expected a mapping of hyperparameter names"),
    ],
)
def test_malformed_yaml_names_file_and_hyperparameter(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_space(p)
    msg = str(e.value)
    assert msg.startswith(str(p)), msg
    assert expected in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", "invalid JSON at line 1"),
        ('{"hyperparameters": [{"type": "uniform_float", "name": "x", "lower": 2, "upper": 1}]}',
         "not a valid ConfigSpace JSON space"),
    ],
)
def test_malformed_json(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_space(p)


def test_missing_file_lists_presets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="space file not found .*presets: .*digits-mlp"):
        load_space(tmp_path / "nope.yaml", presets=presets())


def test_fix_turns_hyperparameters_into_constants() -> None:
    cs = space_from_yaml(FULL, "full.yaml")
    fixed = fix_hyperparameters(cs, {"optimizer": "sgd", "batch_size": 32})
    assert isinstance(fixed["optimizer"], Constant) and fixed["optimizer"].value == "sgd"
    assert isinstance(fixed["batch_size"], Constant) and fixed["batch_size"].value == 32
    assert dict(fixed.sample_configuration())["batch_size"] == 32
    with pytest.raises(ConfigError, match="unknown hyperparameter 'nope'"):
        fix_hyperparameters(cs, {"nope": 1})
    with pytest.raises(ConfigError, match="'optimizer'='rmsprop' is not one of"):
        fix_hyperparameters(cs, {"optimizer": "rmsprop"})
    with pytest.raises(ConfigError, match="'batch_size' needs a number"):
        fix_hyperparameters(cs, {"batch_size": "big"})
    with pytest.raises(ConfigError, match=r"'width'=32 lies outside the space's range \[64, 256\]"):
        fix_hyperparameters(cs, {"width": 32})  # a typo is refused, not trained on
    assert fix_hyperparameters(cs, {"width": 128})["width"].value == 128
