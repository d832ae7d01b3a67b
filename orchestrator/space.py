"""Search spaces: ConfigSpace built from YAML files, ConfigSpace JSON, or a built-in job's preset.

Pure apart from reading the file it is given. Every problem becomes a ``ConfigError`` whose text
names the file, the hyperparameter and what is wrong, in one line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from ConfigSpace import Configuration, ConfigurationSpace

_TYPES = {
    "float": "float", "uniform_float": "float", "real": "float",
    "int": "int", "integer": "int", "uniform_int": "int",
    "categorical": "categorical", "choice": "categorical", "cat": "categorical",
    "ordinal": "ordinal",
    "constant": "constant", "const": "constant", "fixed": "constant",
}
_KNOWN_KEYS = {"type", "low", "high", "log", "default", "choices", "sequence", "value", "condition", "q"}
_COND_RE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(==|!=|>|<|in)\s*(.+?)\s*$")


def load_space(spec: str | Path, *, presets: Mapping[str, Path] | None = None) -> ConfigurationSpace:
    """Build a space from a preset name, a ``.yaml``/``.yml`` file or a ConfigSpace ``.json`` file."""
    text_spec = str(spec)
    if presets and text_spec in presets:
        return load_space(presets[text_spec])
    path = Path(text_spec)
    if not path.exists():
        known = f" (presets: {', '.join(sorted(presets))})" if presets else ""
        raise ConfigError(f"{path}: space file not found{known}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read space file: {e}") from None
    if path.suffix.lower() == ".json":
        return space_from_json(text, source=str(path))
    return space_from_yaml(text, source=str(path))


def space_from_yaml(text: str, source: str = "<yaml>") -> ConfigurationSpace:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    return space_from_dict(data, source=source)


def space_from_json(text: str, source: str = "<json>", strict: bool = False) -> ConfigurationSpace:
    """ConfigSpace's JSON; unless ``strict``, also the YAML form written as JSON."""
    from ConfigSpace.read_and_write import json as cs_json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    is_cs = isinstance(data, dict) and "hyperparameters" in data and isinstance(data["hyperparameters"], list)
    if strict and not is_cs:
        raise ConfigError(f"{source}: not a ConfigSpace JSON space (no 'hyperparameters' list)")
    if is_cs:
        try:
            return cs_json.read(text)
        except Exception as e:  # ConfigSpace raises many types; name the file either way
            raise ConfigError(f"{source}: not a valid ConfigSpace JSON space: {_one_line(e)}") from None
    return space_from_dict(data, source=source)


def space_from_dict(data: Any, source: str = "<space>") -> ConfigurationSpace:
    """Build a ConfigurationSpace from the YAML form: ``{name: {type: float, low: .., high: ..}}``."""
    from ConfigSpace import ConfigurationSpace

    if isinstance(data, Mapping) and "hyperparameters" in data and isinstance(data["hyperparameters"], Mapping):
        data = data["hyperparameters"]
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(f"{source}: expected a mapping of hyperparameter names to definitions")
    cs = ConfigurationSpace()
    conditions: list[tuple[str, Any]] = []
    for name, spec in data.items():
        name = str(name)
        cs.add(_hyperparameter(name, spec, source))
        if isinstance(spec, Mapping) and spec.get("condition") is not None:
            conditions.append((name, spec["condition"]))
    for name, cond in conditions:
        cs.add(_condition(cs, name, cond, source))
    return cs


def _hyperparameter(name: str, spec: Any, source: str) -> Any:
    from ConfigSpace import Categorical, Constant, Float, Integer, OrdinalHyperparameter

    where = f"{source}: hyperparameter '{name}'"
    if not isinstance(spec, Mapping):
        if isinstance(spec, list):  # shorthand: a list of values
            if not spec:
                raise ConfigError(f"{where}: empty list of values")
            if all(_is_number(v) for v in spec):
                spec = {"type": "ordinal", "sequence": sorted(spec)}
            else:
                spec = {"type": "categorical", "choices": spec}
        else:  # shorthand: a constant
            spec = {"type": "constant", "value": spec}
    unknown = set(map(str, spec)) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kind_raw = spec.get("type")
    if kind_raw is None:
        raise ConfigError(f"{where}: missing 'type' (one of float, int, categorical, ordinal, constant)")
    kind = _TYPES.get(str(kind_raw).lower())
    if kind is None:
        raise ConfigError(f"{where}: unknown type '{kind_raw}' (use float, int, categorical, ordinal or constant)")
    default = spec.get("default")
    try:
        if kind in ("float", "int"):
            low, high = _number(spec, "low", where), _number(spec, "high", where)
            log = _bool(spec.get("log", False), where, "log")
            if not low < high:
                raise ConfigError(f"{where}: low ({_fmt(low)}) must be below high ({_fmt(high)})")
            if log and low <= 0:
                raise ConfigError(f"{where}: log scale needs low > 0, got low={_fmt(low)}")
            if default is not None:
                default = _coerce_number(default, where, "default")
                if not low <= default <= high:
                    raise ConfigError(f"{where}: default {_fmt(default)} outside [{_fmt(low)}, {_fmt(high)}]")
            if kind == "float":
                if default is None:
                    return Float(name, (float(low), float(high)), log=log)
                return Float(name, (float(low), float(high)), default=float(default), log=log)
            if low != int(low) or high != int(high):
                raise ConfigError(f"{where}: int bounds must be whole numbers, got {_fmt(low)}..{_fmt(high)}")
            if default is None:
                return Integer(name, (int(low), int(high)), log=log)
            return Integer(name, (int(low), int(high)), default=int(default), log=log)
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: categorical needs a non-empty list 'choices'")
            if len({repr(c) for c in choices}) != len(choices):
                raise ConfigError(f"{where}: duplicate choices in {choices}")
            if default is not None and default not in choices:
                raise ConfigError(f"{where}: default {default!r} is not one of the choices {choices}")
            return Categorical(name, choices, default=choices[0] if default is None else default)
        if kind == "ordinal":
            seq = spec.get("sequence", spec.get("choices"))
            if not isinstance(seq, list) or not seq:
                raise ConfigError(f"{where}: ordinal needs a non-empty list 'sequence'")
            seq = [_coerce_number(v, where, "sequence") if isinstance(v, str) and _numeric_str(v) else v for v in seq]
            if len({repr(c) for c in seq}) != len(seq):
                raise ConfigError(f"{where}: duplicate values in sequence {seq}")
            if default is not None and default not in seq:
                raise ConfigError(f"{where}: default {default!r} is not in the sequence {seq}")
            return OrdinalHyperparameter(name, seq, default_value=default if default is not None else seq[0])
        if "value" not in spec:
            raise ConfigError(f"{where}: constant needs 'value'")
        value = spec["value"]
        if isinstance(value, (list, dict)) or value is None:
            raise ConfigError(f"{where}: constant value must be a number or a string, got {value!r}")
        return Constant(name, value)
    except ConfigError:
        raise
    except Exception as e:  # ConfigSpace validation errors
        raise ConfigError(f"{where}: {_one_line(e)}") from None


def _condition(cs: ConfigurationSpace, child: str, cond: Any, source: str) -> Any:
    from ConfigSpace import (
        AndConjunction,
        EqualsCondition,
        GreaterThanCondition,
        InCondition,
        LessThanCondition,
        NotEqualsCondition,
    )

    where = f"{source}: hyperparameter '{child}'"
    if isinstance(cond, list):
        parts = [_condition(cs, child, c, source) for c in cond]
        return parts[0] if len(parts) == 1 else AndConjunction(*parts)
    if isinstance(cond, str):
        m = _COND_RE.match(cond)
        if not m:
            raise ConfigError(f"{where}: cannot parse condition {cond!r} (write e.g. \"optimizer == sgd\")")
        parent, op, raw = m.groups()
        value: Any = _parse_literal(raw)
    elif isinstance(cond, Mapping):
        parent = str(cond.get("parent", ""))
        ops = [k for k in ("equals", "not_equals", "in", "gt", "lt") if k in cond]
        if len(ops) != 1:
            raise ConfigError(f"{where}: condition needs 'parent' and one of equals, not_equals, in, gt, lt")
        op = {"equals": "==", "not_equals": "!=", "in": "in", "gt": ">", "lt": "<"}[ops[0]]
        value = cond[ops[0]]
    else:
        raise ConfigError(f"{where}: condition must be a string or a mapping, got {cond!r}")
    if parent not in cs:
        raise ConfigError(f"{where}: condition refers to unknown hyperparameter '{parent}'")
    if parent == child:
        raise ConfigError(f"{where}: a hyperparameter cannot be conditioned on itself")
    p, c = cs[parent], cs[child]
    try:
        if op == "in":
            values = value if isinstance(value, list) else [value]
            return InCondition(c, p, [_match_value(p, v, where) for v in values])
        v = _match_value(p, value, where)
        cls = {"==": EqualsCondition, "!=": NotEqualsCondition, ">": GreaterThanCondition, "<": LessThanCondition}[op]
        return cls(c, p, v)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"{where}: invalid condition on '{parent}': {_one_line(e)}") from None


def _match_value(hp: Any, value: Any, where: str) -> Any:
    """Return ``value`` as the parent hyperparameter spells it (YAML may give 'sgd' or 5 vs 5.0)."""
    legal = getattr(hp, "choices", None) or getattr(hp, "sequence", None)
    if legal is not None:
        for item in legal:
            if item == value or str(item) == str(value):
                return item
        raise ConfigError(f"{where}: condition value {value!r} is not a value of '{hp.name}' {list(legal)}")
    return value


def _parse_literal(raw: str) -> Any:
    import yaml

    try:
        v = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw.strip("'\"")
    if isinstance(v, str) and _numeric_str(v):
        return float(v)
    return v


def number_or_text(text: str) -> Any:
    """'3' -> 3, '0.1' -> 0.1, anything else as it is (values typed on a command line or in a CSV)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numeric_str(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _coerce_number(v: Any, where: str, key: str) -> float:
    # YAML 1.1 reads "1e-5" (no dot) as a string: accept it as a number.
    if isinstance(v, str) and _numeric_str(v):
        v = float(v)
    if not _is_number(v) or not math.isfinite(float(v)):
        raise ConfigError(f"{where}: '{key}' must be a finite number, got {v!r}")
    return float(v) if isinstance(v, float) else v


def _number(spec: Mapping[str, Any], key: str, where: str) -> float:
    if key not in spec:
        raise ConfigError(f"{where}: missing '{key}'")
    return _coerce_number(spec[key], where, key)


def _bool(v: Any, where: str, key: str) -> bool:
    if isinstance(v, bool):
        return v
    raise ConfigError(f"{where}: '{key}' must be true or false, got {v!r}")


def _fmt(v: float) -> str:
    return f"{v:g}"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --- conversions used by optimizers, the store and the meta-learning layer -----------------------


def space_to_json(cs: ConfigurationSpace) -> str:
    from ConfigSpace.read_and_write import json as cs_json

    return str(cs_json.write(cs, indent=2))


def hyperparameter_names(cs: ConfigurationSpace) -> list[str]:
    return list(cs.keys())


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it stands for (JSON- and CSV-friendly)."""
    if isinstance(value, str):
        return str(value)  # np.str_ -> str
    if hasattr(value, "item"):
        return value.item()
    return value


def config_to_dict(config: Configuration | Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): plain(v) for k, v in dict(config).items()}


def coerce_config(cs: ConfigurationSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values read back from CSV (3.0 for 3, '0.1' for 0.1) as the space's own types."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k not in cs:
            continue
        hp = cs[k]
        legal = getattr(hp, "choices", None) or getattr(hp, "sequence", None)
        if legal is not None:
            match = [x for x in legal if x == v or str(x) == str(v) or (_is_number(x) and _num_eq(x, v))]
            out[k] = plain(match[0]) if match else v
        elif type(hp).__name__.endswith("IntegerHyperparameter"):
            out[k] = int(round(float(v)))
        elif hasattr(hp, "lower"):
            out[k] = float(v)
        else:
            out[k] = plain(v)
    return out


def _num_eq(x: Any, v: Any) -> bool:
    try:
        return math.isclose(float(x), float(v), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def to_configuration(cs: ConfigurationSpace, values: Mapping[str, Any]) -> Configuration:
    """Validate plain values against the space; raises ConfigError naming the bad hyperparameter."""
    from ConfigSpace import Configuration

    try:
        return Configuration(cs, values=dict(values))
    except Exception as e:
        raise ConfigError(f"configuration {dict(values)} is not in the space: {_one_line(e)}") from None


def _check_range(name: str, value: float, hp: Any, source: str) -> None:
    if name == "epochs":
        if value < 1 or float(value) != int(value):
            raise ConfigError(f"{source}: 'epochs' needs a whole number of at least 1, got {value!r}")
        return
    seq = getattr(hp, "sequence", None)
    if seq is not None and not all(_is_number(v) for v in seq):
        return
    lo, hi = (min(seq), max(seq)) if seq is not None else (hp.lower, hp.upper)
    if not lo <= value <= hi:
        raise ConfigError(f"{source}: '{name}'={value!r} lies outside the space's range [{lo:g}, {hi:g}]")


def fix_hyperparameters(cs: ConfigurationSpace, fixed: Mapping[str, Any], source: str = "--fix") -> ConfigurationSpace:
    """Return a copy of ``cs`` where each hyperparameter in ``fixed`` is a Constant of that value.

    Categorical values must be among the choices and numbers inside the searched range (a typo such as
    learning_rate=5 is refused), except ``epochs``: any whole number of at least 1 (a quick run)."""
    from ConfigSpace import Constant

    if not fixed:
        return cs
    for name, value in fixed.items():
        if name not in cs:
            raise ConfigError(f"{source}: unknown hyperparameter '{name}' (space has {', '.join(cs.keys())})")
        hp = cs[name]
        choices = getattr(hp, "choices", None)
        if choices is not None and not any(str(v) == str(value) for v in choices):
            raise ConfigError(f"{source}: '{name}'={value!r} is not one of {list(choices)}")
        numeric = hasattr(hp, "lower") or getattr(hp, "sequence", None) is not None
        if numeric and not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{name}' needs a number, got {value!r}")
        if numeric:
            _check_range(name, value, hp, source)
    data = json.loads(space_to_json(cs))
    for hp in data["hyperparameters"]:
        if hp["name"] in fixed:
            value = fixed[hp["name"]]  # numbers may lie outside the range (e.g. epochs=1 for a quick run)
            if hp.get("choices"):
                value = next(v for v in hp["choices"] if str(v) == str(value))
            if hp["type"] == "uniform_int":
                value = int(value)
            name = hp["name"]
            hp.clear()
            hp.update({"name": name, "type": "constant", "value": value})
    from ConfigSpace.read_and_write import json as cs_json

    fixed_cs = cs_json.read(json.dumps(data))
    for name in fixed:
        assert isinstance(fixed_cs[name], Constant)
    return fixed_cs
