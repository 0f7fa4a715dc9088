"""The package layout stays as README's "How it works" draws it: layers are folders, data flows one way.

``meetsep/`` holds one folder per layer (``core``, ``io``, ``loading``, ``stages``, ``sim``, ``analysis``,
``batch``, ``cli``) and the few modules every user meets at the top (``pipeline``, ``outputs``, ``schema``). A module
imports its own layer and the layers below it, never one above; a stage never imports another stage (the
pipeline wires them). ``pipelines/`` recipes use meetsep's public names only: no private names, no
monkeypatching, no ``sys.path`` edits. README's layer table lists exactly the modules on disk.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "meetsep"

# What each layer may import besides itself, bottom to top. "schema" is the public output schema.
BELOW = {
    "schema": set(),
    "version": set(),
    "core": {"schema", "version"},
    "io": {"schema", "version", "core"},
    "loading": {"schema", "version", "core", "io"},
    "stages": {"schema", "version", "core", "io", "loading"},
    "sim": {"schema", "version", "core", "io", "loading"},
    "analysis": {"schema", "version", "core", "io", "loading"},
    "pipeline": {"schema", "version", "core", "io", "loading", "stages"},
    "outputs": {"schema", "version", "core", "io", "pipeline", "analysis"},
    "enrollment": {"schema", "version", "core", "io", "loading", "stages", "pipeline", "analysis"},
    "streaming": {"schema", "version", "core", "io", "loading", "stages", "pipeline", "outputs"},
    "batch": {"schema", "version", "core", "io", "loading", "pipeline", "analysis", "outputs"},
    "cli": {
        "schema",
        "version",
        "core",
        "io",
        "loading",
        "pipeline",
        "analysis",
        "outputs",
        "batch",
        "sim",
        "stages",
        "enrollment",
        "streaming",
    },
    "formats": {"io"},  # kept for code written against 0.1: re-exports meetsep.io.formats
    "__init__": {"schema", "version", "core", "io", "pipeline", "enrollment"},
}
FOLDERS = {"core", "io", "loading", "stages", "sim", "analysis", "batch", "cli", "streaming"}
TOP_LEVEL = {"__init__", "pipeline", "outputs", "enrollment", "schema", "version", "formats"}
MAX_LINES = 400


def meetsep_imports(path: Path) -> set[str]:
    """Dotted meetsep modules imported anywhere in the file (function bodies and TYPE_CHECKING too),
    without the ``meetsep.`` prefix; ``from meetsep.io import audio`` gives ``io.audio``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "meetsep":
            base = node.module.split(".")[1:]
            for alias in node.names:
                found.add(
                    ".".join([*base, alias.name])
                    if (PACKAGE / Path(*base) / alias.name).exists()
                    or (PACKAGE / Path(*base) / f"{alias.name}.py").exists()
                    else ".".join(base)
                )
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".", 1)[1] for alias in node.names if alias.name.startswith("meetsep.")}
    return {name for name in found if name}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name below ``meetsep`` (``stages.segment``, ``pipeline``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts)] = path
    return out


def layer(name: str) -> str:
    return name.split(".")[0]


def test_every_module_lives_in_a_layer_folder():
    misplaced = sorted(n for n in modules() if "." not in n and n not in TOP_LEVEL)
    misplaced += sorted(n for n in modules() if "." in n and layer(n) not in FOLDERS)
    misplaced += sorted(n for n in modules() if n.count(".") > 1)
    assert not misplaced, f"move these modules into a layer folder of tests/test_layout.py: {misplaced}"


def test_layers_import_only_themselves_and_layers_below():
    violations = []
    for name, path in modules().items():
        own = layer(name)
        for imported in sorted(meetsep_imports(path)):
            target = layer(imported)
            if target != own and target not in BELOW[own]:
                violations.append(f"meetsep.{name} imports meetsep.{imported}")
    assert not violations, "\n".join(violations)


def test_stages_never_import_each_other():
    violations = [
        f"meetsep.{name} imports meetsep.{imported}"
        for name, path in modules().items()
        if layer(name) == "stages"
        for imported in sorted(meetsep_imports(path))
        if layer(imported) == "stages" and imported not in (name, "stages")
    ]
    assert not violations, "\n".join(violations)


def test_no_module_is_longer_than_the_limit():
    files = {
        **{f"meetsep/{n}": p for n, p in modules().items()},
        **{p.name: p for p in (ROOT / "pipelines").glob("*.py")},
    }
    long = {name: n for name, path in files.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_every_module_says_what_it_is():
    assert not [name for name, path in modules().items() if not ast.get_docstring(ast.parse(path.read_text()))]


def test_importing_meetsep_loads_no_model_framework():
    """``import meetsep`` is cheap: no torch, no pyannote, no whisper until a pipeline is built."""
    code = "import sys, meetsep; print(sorted(m for m in ('torch', 'pyannote.audio', 'faster_whisper') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def test_no_sys_path_edits():
    edits = [
        str(p.relative_to(ROOT))
        for p in _python_files("pipelines", "tests", "meetsep", "examples")
        if re.search(r"sys\.path\s*(\.insert|\.append|\[|\+=|=)", p.read_text()) and p.name != "test_layout.py"
    ]
    assert not edits, f"import through packages, not sys.path: {edits}"


def test_pipelines_use_public_names_only():
    """Recipes import no private name of meetsep and assign no attribute of a meetsep module."""
    violations = []
    for path in _python_files("pipelines"):
        tree = ast.parse(path.read_text())
        aliases = {"meetsep"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("meetsep"):
                aliases |= {a.asname or a.name for a in node.names}
                private = [a.name for a in node.names if a.name.startswith("_")]
                private += [part for part in node.module.split(".") if part.startswith("_")]
                violations += [f"{path.name}: imports {node.module}.{name}" for name in private]
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("meetsep")}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in aliases:
                    violations.append(f"{path.name}:{node.lineno}: uses private {node.attr}")
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                root = target
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(target, ast.Attribute) and isinstance(root, ast.Name) and root.id in aliases:
                    violations.append(f"{path.name}:{node.lineno}: sets an attribute of meetsep ({root.id})")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args:
                root = node.args[0]
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in aliases:
                    violations.append(f"{path.name}:{node.lineno}: setattr on meetsep ({root.id})")
    assert not violations, "\n".join(violations)


def test_readme_layer_table_lists_the_modules_on_disk():
    """README's table: one row per folder, `meetsep/FOLDER/` first, then its modules as `name`
    (words in parentheses describe them and are not read)."""
    rows = re.findall(r"^\| `meetsep/(\w*)/?` \|(.*)\|\s*$", (ROOT / "README.md").read_text(), re.M)
    assert rows, "README.md has no layer table"
    listed = {
        f"{folder}.{name}" if folder else name
        for folder, rest in rows
        for name in re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", rest))
    }
    on_disk = {name for name in modules() if name.split(".")[-1] not in ("__init__", "__main__")}
    assert listed == on_disk, (
        f"missing from README: {sorted(on_disk - listed)}; not on disk: {sorted(listed - on_disk)}"
    )


def test_names_users_already_import_keep_working():
    """0.1's ``meetsep.formats`` and the top-level API are still there (the shim re-exports every public name)."""
    import meetsep
    import meetsep.formats as old
    import meetsep.io.formats as new

    assert {meetsep.transcribe, meetsep.Pipeline, meetsep.load_config}
    public = {
        n for n in dir(new) if not n.startswith("_") and getattr(getattr(new, n), "__module__", None) == new.__name__
    }
    public |= {"EXTENSIONS", "FORMATS", "PAGE_FORMATS", "WRITERS"}
    assert {n for n in public if not hasattr(old, n)} == set()
