"""The package's imports (module-level and inside functions, read from the source): layers that only look
down (docs/architecture.md draws them), no import circle, no benchmark importing another benchmark."""
import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pit_eval"

#: lowest first; a module may import its own layer or a lower one
LAYERS = (
    ("settings", "registry", "files", "progress", "extras", "flops", "references", "plots", "tables"),   # foundations
    ("images", "metrics", "stall", "corruptions"),                                               # pixels, numbers
    ("sources", "datasets", "real_labels", "population", "loop_metrics", "models"),             # data, the loop's metrics
    ("engine", "prediction_files", "results"),                                                 # the loop, results
    ("benchmarks",),                                                                           # the benchmarks
    ("robustness", "detection", "speed", "mmdet_ext"),                                         # runs
    ("result_kinds",),                                                                         # result kinds
    ("report", "paper_report", "api"),                                                         # reports, the API
    ("sweeps",),                                                                               # many models
    ("paper",),                                                                                # the paper runner
    ("cli", "__init__"),                                                                       # entry points
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict:
    """module -> the pit_eval modules it imports (``from .x import y``: ``x.y`` where y is a module)."""
    graph = {}
    for path in PKG.rglob("*.py"):
        mod = _module(path)
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    is_module = (ROOT / (sub.replace(".", "/") + ".py")).exists() or (ROOT / sub.replace(".", "/")).is_dir()
                    deps.add(sub if is_module else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d.split(".")[0] == "pit_eval" and d != mod}
    return graph


def _top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_import_looks_down_a_layer_or_across_its_own():
    graph = _imports()
    assert {_top(m) for m in graph} == set(LAYER), "a module without a layer: add it to LAYERS and docs/architecture.md"
    upward = [(m, d) for m, deps in graph.items() for d in deps if LAYER[_top(d)] > LAYER[_top(m)]]
    assert not upward, upward


def test_no_import_circle_and_no_benchmark_imports_another():
    graph = _imports()
    state, circles = {}, []

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                circles.append(path[path.index(d):] + [d])
            elif d in graph and d not in state:
                visit(d, path + [d])
        state[m] = "done"
    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    # a package's __init__ importing its own modules (the registry's discovery) is not a circle
    circles = [c for c in circles if not any(_is_package_init(a, b) for a, b in zip(c, c[1:]))]
    assert not circles, circles
    units = [m for m in graph if m.startswith("pit_eval.benchmarks.") and m != "pit_eval.benchmarks.base"]
    across = [(m, d) for m in units for d in graph[m] if d.startswith("pit_eval.benchmarks.") and d != "pit_eval.benchmarks.base"]
    assert not across, across


def _is_package_init(a: str, b: str) -> bool:
    return (ROOT / a.replace(".", "/") / "__init__.py").exists() and b.startswith(a + ".")


#: the only places that may name a benchmark, a corruption or a protocol: the benchmarks and the corruptions
NAMING = ("benchmarks/", "corruptions/")


def test_nothing_outside_the_benchmarks_and_corruptions_names_a_benchmark_corruption_or_protocol():
    """Every string in the package's code outside ``benchmarks/`` and ``corruptions/`` (docstrings aside:
    they may say what a hook is for) is searched for a benchmark's, a corruption's or a corruption
    protocol's name as a whole word: the orchestrator, the data layer, the population, the reports and
    the stall meter reach them through the registries and the benchmarks' hooks."""
    import re
    from pit_eval import benchmarks
    from pit_eval.corruptions.names import COMMON, EXTRA, PROTOCOLS
    names = sorted(set(benchmarks.names()) | set(COMMON) | set(EXTRA) | set(PROTOCOLS), key=len, reverse=True)
    word = re.compile(r"(?<![\w])(" + "|".join(map(re.escape, names)) + r")(?![\w-])", re.I)   # flags too
    found, scanned = [], 0
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith(NAMING):
            continue
        scanned += 1
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found += [f"{rel}:{n.lineno}: {word.search(n.value).group(1)!r} in {n.value[:60]!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
                  and word.search(n.value)]
    assert scanned > 30 and not found, found
