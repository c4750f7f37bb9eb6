"""The runtime stands alone: no module under sdk/runtime imports the build side or torch.

1. Static (ast): every module under sdk/runtime, and every project module those import at
   module level (transitively: sdk.inputs, sdk.spec, sdk.atomic, ...), has no module-level
   import of `export`, `compress`, `torch` (or the torch-only packages). Imports inside a
   function are allowed: that is how the torch backend loads a checkpoint on demand.
2. Dynamic (a fresh interpreter): `import sdk.runtime` and a whole ONNX prediction
   (load, manifest and sha256 check, the child-process probe, predict) leave `torch`,
   `export` and `compress` out of sys.modules.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "sdk" / "runtime"
PROJECT_PACKAGES = ("sdk", "export", "compress")
FORBIDDEN = {"export", "compress", "torch", "torchao", "torchaudio", "executorch", "litert_torch", "torch_pruning",
             "onnxscript"}


def module_level_imports(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for each import that runs when `module` is imported: module-level
    statements, including inside module-level if/try/with blocks and class bodies, not in functions."""
    found: list[tuple[int, str]] = []
    package = module if module.endswith("__init__") else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")

    def visit(nodes):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Import):
                found.extend((node.lineno, a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parent = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{parent}.{base}" if base else parent
                found.append((node.lineno, base))
                found.extend((node.lineno, f"{base}.{a.name}") for a in node.names)  # `from sdk import runtime`
            else:
                visit(ast.iter_child_nodes(node))

    visit(ast.parse(source).body)
    return found


def module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_import_closure() -> dict[str, list[tuple[int, str]]]:
    """Every project module reached from sdk/runtime by module-level imports -> its module-level imports
    (importing a module also imports its parent packages' __init__)."""
    todo = [module_name(p) for p in sorted(RUNTIME.rglob("*.py"))]
    seen: dict[str, list[tuple[int, str]]] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name)
        if path is None:
            continue
        imports = module_level_imports(path.read_text(), name if path.name != "__init__.py" else f"{name}.__init__")
        seen[name] = imports
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo.extend(parents)
        todo.extend(m for _, m in imports if m.split(".")[0] in PROJECT_PACKAGES)
    return seen


def test_the_walker_sees_module_level_imports_and_skips_function_bodies():
    source = ("import os\nfrom torch import nn\ntry:\n    import export.manifest\nexcept ImportError:\n    pass\n"
              "class A:\n    import compress.pnao\n"
              "def f():\n    import torch\n"
              "from . import native\n")
    names = [m for _, m in module_level_imports(source, "sdk.runtime.example")]
    assert {"os", "torch", "export.manifest", "compress.pnao", "sdk.runtime.native"} <= set(names)
    assert names.count("torch") == 1  # the one inside f() is not module level


def test_no_runtime_module_imports_export_compress_or_torch_at_module_level():
    closure = runtime_import_closure()
    assert {"sdk.runtime.recognizer", "sdk.runtime.backends", "sdk.runtime.manifest", "sdk.runtime.native_build",
            "sdk.inputs", "sdk.errors"} <= closure.keys(), sorted(closure)
    offending = [f"{name}:{line} imports {imported}" for name, imports in sorted(closure.items())
                 for line, imported in imports if imported.split(".")[0] in FORBIDDEN]
    assert not offending, "the runtime must not depend on the build side or torch:\n" + "\n".join(offending)


def test_no_runtime_module_imports_export_or_compress_even_inside_a_function():
    """`export` imports the runtime, never the reverse: not even lazily (torch may be, for the torch backend)."""
    offending = []
    for path in sorted(RUNTIME.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offending += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in ("export", "compress")]
    assert not offending, "\n".join(offending)


def test_the_runtime_reaches_only_runtime_side_project_modules():
    """No export.* or compress.* module is even reachable from sdk/runtime at import time."""
    closure = runtime_import_closure()
    assert not [m for m in closure if m.split(".")[0] in ("export", "compress")]


TORCH_FREE_PREDICTION = """
import json, sys
import sdk.runtime
after_import = sorted(m for m in ("torch", "export", "compress") if m in sys.modules)
import numpy as np
from sdk import EmotionRecognizer
with EmotionRecognizer.load(sys.argv[1]) as recognizer:
    inputs = {m.name: ("not a good movie" if m.kind == "tokens"
                       else np.ones((m.seq_len, *m.step_shape()), np.float32)) for m in recognizer.spec.modalities}
    result = recognizer.predict(**inputs)
print(json.dumps({"after_import": after_import, "label": result.label, "runtime": recognizer.backend,
                  "loaded": sorted(m for m in ("torch", "export", "compress") if m in sys.modules)}))
"""


@pytest.fixture(scope="module")
def tiny_onnx():
    """The tiny test model's fp32 .onnx (tests.helpers.tiny_artifacts, built once per session)."""
    from tests.helpers import tiny_artifacts

    return tiny_artifacts()["onnx"]


def test_import_and_an_onnx_prediction_never_import_torch(tiny_onnx):
    done = subprocess.run([sys.executable, "-c", TORCH_FREE_PREDICTION, str(tiny_onnx)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["runtime"] == "onnx" and measured["label"] in tiny_onnx_classes(tiny_onnx)
    assert measured["after_import"] == [] and measured["loaded"] == [], measured


def tiny_onnx_classes(path: Path) -> list[str]:
    return json.loads(path.with_name(path.name + ".json").read_text())["class_names"]
