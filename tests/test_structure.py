"""The package's shape: no import circles (function-level imports included), no module importing another
module's private names, the layers of DESIGN.md (optimisers below meta-learning, jobs on their own), and
one registry entry per strategy that holds everything about it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in [*ROOT.glob("orchestrator/**/*.py"), *ROOT.glob("jobs/**/*.py")]:
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Module -> modules it imports (anywhere in the file), and (importer, module, name) of private names."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                mod = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    target = f"{mod}.{alias.name}"
                    if target in mods:
                        edges[name].add(target)
                    elif mod in mods:
                        edges[name].add(mod)
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            private.append((name, mod, alias.name))
            elif isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names if a.name in mods)
        edges[name].discard(name)
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


EDGES, PRIVATE = _imports(_modules())


def test_no_import_circles() -> None:
    assert _cycles(EDGES) == []


def test_no_module_imports_another_modules_private_names() -> None:
    assert PRIVATE == []


@pytest.mark.parametrize("lower, upper", [
    ("orchestrator.optimizers", "orchestrator.metalearning"),  # the prior's interface is in optimizers/
    ("orchestrator.optimizers", "orchestrator.strategies"),
    ("orchestrator.metalearning", "orchestrator.strategies"),
    ("orchestrator.metalearning", "orchestrator.session"),
    ("orchestrator.metalearning", "orchestrator.bench"),
    ("orchestrator.executors", "orchestrator.tune"),
    ("orchestrator.store", "orchestrator.executors"),
    ("jobs", "orchestrator.worker"),
])
def test_lower_layers_do_not_import_upper_ones(lower: str, upper: str) -> None:
    bad = sorted(f"{a} -> {b}" for a, bs in EDGES.items() for b in bs
                 if (a == lower or a.startswith(lower + ".")) and (b == upper or b.startswith(upper + ".")))
    assert bad == []


def test_jobs_use_only_orchs_pure_leaves() -> None:
    """Training jobs depend on orch only for its error type and the failure-reason text helper (pure
    modules that import nothing of orch): no controller, store or scheduler code runs in a job."""
    leaves = {"orchestrator.errors", "orchestrator.failures"}
    assert all(not EDGES[m] for m in leaves)
    bad = sorted(f"{a} -> {b}" for a, bs in EDGES.items() if a.startswith("jobs") for b in bs
                 if b.startswith("orchestrator") and b not in leaves)
    assert bad == []


def test_a_new_strategy_is_one_registry_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry added to the registry, and nothing else, runs as a study, in the benchmark and in
    `orch sbatch`'s sources; a meta-learning one also plans and records its warm start."""
    from orchestrator import strategies
    from orchestrator.bench.runner import RunSpec, run_one
    from orchestrator.optimizers.random import RandomSearch
    from orchestrator.session import TuneRequest, prepare
    from orchestrator.spec import MetaOptions

    def build(ctx: strategies.StrategyContext) -> RandomSearch:
        return RandomSearch(ctx.space, seed=ctx.seed + 1, budget=ctx.budget)

    mine = strategies.Strategy("my-random", "random search from seed + 1", build)
    learner = strategies.Strategy("my-knn", "SMAC after the nearest past tasks' bests",
                                  strategies.STRATEGIES["meta-smac-knn"].build, options=MetaOptions(warm_configs=2),
                                  selector="knn")
    monkeypatch.setitem(strategies.STRATEGIES, "my-random", mine)
    monkeypatch.setitem(strategies.STRATEGIES, "my-knn", learner)
    root = tmp_path / "r"
    loop, notes = prepare(TuneRequest(root=root, study="mine", job="branin", strategy="my-random", trials=3))
    assert loop.run(notes).progress.done == 3 and loop.spec.strategy.name == "my-random"
    loop, notes = prepare(TuneRequest(root=root, study="learner", job="branin", strategy="my-knn", trials=3))
    assert loop.spec.strategy.warm is not None and len(loop.spec.strategy.warm.configs) == 2
    assert loop.run(notes).progress.done == 3
    again, _ = prepare(TuneRequest(root=root, resume="learner", trials=4))  # study.json names the entry
    assert again.run().progress.done == 4
    rows = run_one(RunSpec("hpobench-nn", "car", "my-random", 0, 3)).rows
    assert len(rows) == 3
