"""The folder layout is the architecture (docs/CONTRIBUTING.md): the rules are read from its layer table and rule table
(no module or package imported in a cycle, counting imports inside functions, read from the source, not run; layers
that import downwards only; commands that only parse), and a training engine of short functions."""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_files(package_dir: str) -> dict[str, tuple[str, bool]]:
    """Dotted module name -> (file, is a package __init__) for every .py under package_dir."""
    top = os.path.dirname(package_dir)
    out = {}
    for folder, _, files in os.walk(package_dir):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                dotted = os.path.relpath(path, top)[:-3].replace(os.sep, ".")
                is_pkg = dotted.endswith(".__init__")
                out[dotted[:-len(".__init__")] if is_pkg else dotted] = (path, is_pkg)
    return out


def import_graph(modules: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of `modules` it imports anywhere in its body (`from pkg import sub` -> pkg.sub)."""
    graph = {}
    for name, (path, is_pkg) in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join((here[:len(here) - node.level + 1] if node.level else [])
                                + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in modules:                      # pkg.mod.function -> pkg.mod
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_sees_function_level_and_package_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")      # function-level import
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("from .a import f\n")                     # imports into the cycle, not part of it
    # a package that imports its module, which imports a name of the package back (the old dataset registry)
    (pkg / "sub" / "__init__.py").write_text("def register():\n    pass\nfrom . import x\n")
    (pkg / "sub" / "x.py").write_text("from . import register\nfrom ..sub import y\n")
    (pkg / "sub" / "y.py").write_text("")                               # a module: pkg.sub.y, not pkg.sub
    found = cycles(import_graph(module_files(str(pkg))))
    assert sorted(found) == [["pkg.a", "pkg.b"], ["pkg.sub", "pkg.sub.x"]]


def vidreid_graph() -> dict[str, set[str]]:
    return import_graph(module_files(os.path.join(REPO, "vidreid")))


def test_no_import_cycle():
    found = cycles(vidreid_graph())
    assert len(found) == int(layer_rules()[1]["module import cycles"]), \
        "import cycles: " + " | ".join(" <-> ".join(c) for c in found)


def markdown_tables(path: str) -> list[list[list[str]]]:
    """Every table of a markdown file as rows of cells (header row included, separator rows dropped)."""
    tables, rows = [], []
    for line in open(path, encoding="utf-8").read().splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            tables.append(rows)
            rows = []
    return tables


def layer_rules() -> tuple[dict[str, list[str]], dict[str, str]]:
    """docs/CONTRIBUTING.md's layer table ({package: packages it must not import}) and rule table ({rule: value})."""
    layers, rules = {}, {}
    for table in markdown_tables(os.path.join(REPO, "docs", "CONTRIBUTING.md")):
        if table[0][:2] == ["package", "must not import"]:
            layers = {row[0].strip("`"): [c.strip().strip("`") for c in row[1].split(",")] for row in table[1:]}
        elif table[0][:2] == ["rule", "value"]:
            rules = {row[0]: row[1] for row in table[1:]}
    assert layers and rules, "docs/CONTRIBUTING.md lost its layer table or its rule table"
    return layers, rules


def test_table_parser_reads_the_layer_table(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("text\n\n| package | must not import | why |\n|---|---|---|\n| `a.b` | `a.c`, `a.d` | x |\n\nmore\n")
    assert markdown_tables(str(doc)) == [[["package", "must not import", "why"], ["`a.b`", "`a.c`, `a.d`", "x"]]]
    layers, rules = layer_rules()
    assert "vidreid.engine" in layers["vidreid.inference"] and "vidreid.tracking" in layers["vidreid.data"]
    assert "vidreid.inference" not in layers["vidreid.engine"]                   # engine may evaluate through it


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_layers_follow_the_table():
    """Each package of the table imports none of the packages its row names (docs/CONTRIBUTING.md)."""
    layers, _ = layer_rules()
    bad = sorted(f"{m} -> {t}" for m, ts in vidreid_graph().items() for t in ts
                 if package_of(m) in layers and package_of(t) in layers[package_of(m)])
    assert not bad, bad


def test_no_package_cycle():
    """The packages (vidreid.X, all its modules one node) import each other without a cycle."""
    _, rules = layer_rules()
    packages: dict[str, set[str]] = {}
    for m, ts in vidreid_graph().items():
        packages.setdefault(package_of(m), set()).update(package_of(t) for t in ts if package_of(t) != package_of(m))
    found = cycles(packages)
    assert len(found) == int(rules["package import cycles (`vidreid.X` collapsed to one node)"]), found


def test_commands_only_parse():
    """A command module imports no other command and at most the table's number of vidreid modules."""
    _, rules = layer_rules()
    limit = int(rules["vidreid modules one command module imports"].split()[-1])
    graph = vidreid_graph()
    too_many = {m: sorted(ts) for m, ts in graph.items() if m.startswith("vidreid.commands.") and len(ts) > limit}
    assert not too_many, too_many


def test_engine_functions_are_short():
    """No function in vidreid/engine/ is longer than ~80 lines (the issue that split the 212-line training loop)."""
    long = []
    for name, (path, _) in module_files(os.path.join(REPO, "vidreid")).items():
        if name.startswith("vidreid.engine"):
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > 85:
                        long.append(f"{name}.{node.name}: {length} lines")
    assert not long, long


def test_benchmark_scripts_import_names_that_exist():
    """benchmarks/ are not run by the suite: a module move must still not leave them importing names that are gone."""
    import glob
    import importlib
    missing = []
    for path in sorted(glob.glob(os.path.join(REPO, "benchmarks", "*.py"))):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("vidreid"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{os.path.basename(path)}: {node.module}.{alias.name}")
    assert not missing, missing
