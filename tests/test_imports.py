"""The package's import graph: no circle, and layers that import downwards only.

Every module of idw_jax is parsed with `ast` (nothing is imported). A -> B is an import of the
idw_jax module B anywhere in A, at the top or inside a function (a lazy import is a dependency
all the same), except inside A's `if __name__ == "__main__":` block. That block is the program,
not the module: `python -m idw_jax.export` runs the file as the module `__main__`, so what the
block imports (idw_jax.recommend, which imports idw_jax.export) gets the package's own copy of
the module, and no module ever imports a program.

The layers, bottom to top; a module imports modules of its own layer or lower ones only:
  0 foundations   no idw_jax import at all: the math of affinity, models, packing, sharding;
                  the tables of methods and phases; logs, provenance, compilation_cache; cli
                  (the plumbing every command uses); data.types; export (serving: its loader
                  needs jax, numpy and flatbuffers only)
  1 math, data    density, losses, metrics, data.*
  2 setup         config, workdir, configs (the presets)
  3 training      train, checkpoints, reporting, results_text
  4 the run       driver, finished (a finished run's rerun)
  5 applications  recommend, evaluate, experiments.*
  6 the API       api, and the package itself (it loads the API lazily)
and inside experiments, bottom to top:
  0 records (the record files), specs (run specs and names), plotting (draws numbers only)
  1 cache (which runs are finished), cli (the commands' shared flags), tables
  2 executors (computing runs), significance
  3 grid
  4 search
  5 figures
Beside the layers: only experiments.executors and the API import the driver (recommend reads a
run without it), and nothing outside experiments imports experiments.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "idw_jax"

LAYERS = (
    {"affinity", "models", "packing", "sharding", "methods", "logs", "provenance",
     "compilation_cache", "cli", "data.types", "export", "data", "experiments",
     "config_spec", "config_upgrade", "run_state", "clock"},
    {"density", "losses", "metrics", "data.*"},
    {"config", "workdir", "configs", "configs.*"},
    {"train", "reporting", "sleep", "epochs", "run_data", "checkpoints", "observers", "phases",
     "results_text"},
    {"driver", "finished"},
    {"recommend", "evaluate", "experiments.*"},
    {"api", ""},
)
EXPERIMENT_LAYERS = (
    {"records", "specs", "plotting"},
    {"cache", "cli", "tables"},
    {"executors", "significance"},
    {"grid", "claims", "literature"},
    {"search"},
    {"figures"},
)


def modules() -> dict[str, Path]:
  """{"idw_jax.x.y": path} of every module and package of idw_jax."""
  out = {}
  for path in sorted(PACKAGE.rglob("*.py")):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  return out


def _is_main_block(node: ast.stmt) -> bool:
  """`if __name__ == "__main__":` at a module's top level."""
  test = getattr(node, "test", None)
  return (isinstance(node, ast.If) and isinstance(test, ast.Compare)
          and isinstance(test.left, ast.Name) and test.left.id == "__name__"
          and any(isinstance(c, ast.Constant) and c.value == "__main__"
                  for c in test.comparators))


def imports_of(name: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
  """The idw_jax modules (of `known`) that module `name` imports, its __main__ block aside."""
  tree = ast.parse(source)
  out = set()
  package = name if is_package else name.rsplit(".", 1)[0]
  for top in tree.body:
    if _is_main_block(top):
      continue
    for node in ast.walk(top):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
          base = ".".join(anchor + ([base] if base else []))
        # `from idw_jax import config` imports the module idw_jax.config, `from idw_jax.export
        # import Recommender` the module idw_jax.export.
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                   for a in node.names]
      else:
        continue
      out |= {t for t in targets if t in known and t != name}
  return out


def import_graph() -> dict[str, set[str]]:
  mods = modules()
  return {name: imports_of(name, path.read_text(), set(mods), path.name == "__init__.py")
          for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One circle of the graph as [a, b, ..., a], or None when it has none (depth-first)."""
  state: dict[str, int] = {}            # 1: on the current path, 2: done
  path: list[str] = []

  def visit(node: str) -> list[str] | None:
    state[node] = 1
    path.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 1:
        return path[path.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    path.pop()
    state[node] = 2
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def short(name: str) -> str:
  """idw_jax.experiments.grid -> experiments.grid (the package itself: "")."""
  return name.removeprefix("idw_jax").removeprefix(".")


def _layer(name: str, layers) -> int | None:
  for i, members in enumerate(layers):
    for m in members:
      if name == m or (m.endswith(".*") and name.startswith(m[:-1])):
        return i
  return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
  """Every import that goes up a layer, or that breaks a rule beside the layers."""
  bad = []
  for a, targets in sorted(graph.items()):
    la = _layer(short(a), LAYERS)
    for b in sorted(targets):
      lb = _layer(short(b), LAYERS)
      if la is None or lb is None:
        bad.append(f"{a} -> {b}: add the module to a layer of tests/test_imports.py")
      elif lb > la:
        bad.append(f"{a} (layer {la}) imports {b} (layer {lb})")
      elif la == 0 and b.startswith("idw_jax."):
        bad.append(f"{a} is a foundation: it imports nothing of idw_jax, yet imports {b}")
      if b == "idw_jax.driver" and a not in ("idw_jax.experiments.executors", "idw_jax.api"):
        bad.append(f"{a} imports the driver (only experiments.executors and api may)")
      if b.startswith("idw_jax.experiments.") and not a.startswith("idw_jax.experiments."):
        bad.append(f"{a} imports {b}: nothing outside experiments does")
      ea, eb = short(a).removeprefix("experiments."), short(b).removeprefix("experiments.")
      if a.startswith("idw_jax.experiments.") and b.startswith("idw_jax.experiments."):
        la_, lb_ = _layer(ea, EXPERIMENT_LAYERS), _layer(eb, EXPERIMENT_LAYERS)
        if la_ is None or lb_ is None:
          bad.append(f"{a} -> {b}: add the module to EXPERIMENT_LAYERS")
        elif lb_ > la_:
          bad.append(f"{a} (experiments layer {la_}) imports {b} (layer {lb_})")
  return bad


def test_every_module_is_parsed_and_has_a_layer():
  graph = import_graph()
  assert {"idw_jax.export", "idw_jax.recommend", "idw_jax.experiments.grid",
          "idw_jax.data.pipeline"} <= set(graph)
  names = [short(n) for n in graph]
  assert [n for n in names if _layer(n, LAYERS) is None] == []
  exp = [n.removeprefix("experiments.") for n in names if n.startswith("experiments.")]
  assert [n for n in exp if _layer(n, EXPERIMENT_LAYERS) is None] == []
  # The parser sees what is there: the driver's imports, the grid's, a lazy one in a function.
  assert {"idw_jax.train", "idw_jax.checkpoints"} <= graph["idw_jax.driver"]
  assert "idw_jax.experiments.executors" in graph["idw_jax.experiments.grid"]
  assert "idw_jax.driver" in graph["idw_jax.experiments.executors"]     # imported in functions


def test_the_package_has_no_import_circle():
  assert find_cycle(import_graph()) is None


def test_imports_go_down_the_layers():
  assert layer_violations(import_graph()) == []


def test_export_and_cli_import_nothing_of_the_package():
  graph = import_graph()
  assert graph["idw_jax.export"] == set() and graph["idw_jax.cli"] == set()
  assert "idw_jax.driver" not in graph["idw_jax.recommend"]


@pytest.mark.parametrize("graph,cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b", "c"}, "b": set(), "c": {"c2"}, "c2": {"c"}}, ["c", "c2", "c"]),
])
def test_the_checks_find_what_they_look_for(graph, cycle):
  assert find_cycle(graph) == cycle
  up = {"idw_jax.metrics": {"idw_jax.driver"}, "idw_jax.driver": set(),
        "idw_jax.recommend": {"idw_jax.driver"}}
  assert layer_violations(up) == [
      "idw_jax.metrics (layer 1) imports idw_jax.driver (layer 4)",
      "idw_jax.metrics imports the driver (only experiments.executors and api may)",
      "idw_jax.recommend imports the driver (only experiments.executors and api may)"]
  src = ("from idw_jax import config\nfrom idw_jax.export import Recommender\n"
         "def f():\n  import idw_jax.metrics\n"
         "if __name__ == '__main__':\n  from idw_jax import driver\n")
  known = {"idw_jax", "idw_jax.config", "idw_jax.export", "idw_jax.metrics", "idw_jax.driver"}
  assert imports_of("idw_jax.x", src, known) == {"idw_jax.config", "idw_jax.export",
                                                 "idw_jax.metrics"}
