"""The package layout stays as README's "How it works" draws it: data flows one way.

Stage modules take and return the types of ``meetsep.types`` and import only shared modules, never
each other; the pipeline wires the stages; the command line and batch runs go through the pipeline.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "meetsep"

# Below the stages: the data model, configuration, signal helpers, audio I/O, model loading.
SHARED = {
    "types", "version", "errors", "logs", "config", "hooks", "parallel", "files",
    "dsp", "intervals", "chunking", "clustering", "audio",
    "models", "model_catalog", "sepmodels", "speechbrain_yaml", "segmentation_checkpoint", "asteroid_convtasnet",
    "whisper_convert", "ctranslate2_file", "decoding", "onnx_export",
}  # fmt: skip
# The chain, one module per stage (README, "How it works").
STAGES = {
    "beamform", "segment", "embedding", "diarize", "dereverb", "beams", "separate", "gss", "asr", "assign", "channels",
    "transcript",
}  # fmt: skip
# What reads or writes transcripts and audio around the chain, beside the stages.
TOOLS = {"formats", "evaluate", "simulate", "tts", "degrade", "real_speech", "analytics", "report"}
ALLOWED = {
    **{name: SHARED for name in SHARED},
    **{name: SHARED for name in STAGES},
    **{name: SHARED for name in TOOLS},
    "simulate": SHARED | {"tts", "degrade", "real_speech"},
    "report": SHARED | {"analytics", "formats"},
    "pipeline": SHARED | STAGES,
    "manifest": SHARED,
    "batch": SHARED | {"pipeline", "formats", "manifest", "analytics", "report"},
    "engines": SHARED | {"pipeline", "formats", "manifest", "batch"},
    "console": SHARED | {"formats"},
    "cli": SHARED | TOOLS | {"pipeline", "manifest", "batch", "engines", "console", "cli_batch"},
    "cli_batch": SHARED | TOOLS | {"pipeline", "manifest", "batch", "engines", "console"},
    "__init__": SHARED | {"pipeline"},
}
MAX_LINES = 400


def meetsep_imports(path: Path) -> set[str]:
    """Top-level meetsep modules imported anywhere in the file (function bodies and TYPE_CHECKING too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "meetsep":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("meetsep."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("meetsep.")}
    return found


def modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACKAGE.glob("*.py"))}


def test_every_module_has_a_place_in_the_layout():
    unplaced = sorted(set(modules()) - set(ALLOWED))
    assert not unplaced, f"add these modules to a layer of tests/test_layout.py: {unplaced}"


def test_stages_import_only_shared_modules_and_data_flows_one_way():
    violations = []
    for name, path in modules().items():
        for imported in sorted(meetsep_imports(path) - {name}):
            if imported not in ALLOWED.get(name, set()):
                violations.append(f"meetsep.{name} imports meetsep.{imported}")
    assert not violations, "\n".join(violations)


def test_no_module_is_longer_than_the_limit():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_every_module_says_what_it_is():
    assert not [name for name, path in modules().items() if not ast.get_docstring(ast.parse(path.read_text()))]


def test_importing_meetsep_loads_no_model_framework():
    """``import meetsep`` is cheap: no torch, no pyannote, no whisper until a pipeline is built."""
    code = "import sys, meetsep; print(sorted(m for m in ('torch', 'pyannote.audio', 'faster_whisper') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
