"""The runtimes behind `EmotionRecognizer`: one table, one rule for which file runs where.

`load_runner` returns a runner (sdk.runtime.runners.Runner: `runner(list[np.ndarray]) ->
(logits, gate_weights)`, `close()`), the inputs being the modality arrays in spec order
then `presence` (batch 1). Export verification loads artifacts through the same function.

    backend     artifact               runtime
    executorch  .pte                   ExecuTorch (XNNPACK) through the native C runner (sdk.runtime.native)
    litert      .tflite                ai_edge_litert Interpreter
    onnx        .onnx                  onnxruntime, CPU execution provider
    torch       model.pt or run dir    PyTorch eager (the checkpoint, no manifest)

`backend_for` is the project's one artifact discovery rule (a suffix, or a run directory
holding model.pt); `ARTIFACT_SUFFIXES` are the exported formats' suffixes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sdk.errors import ArtifactError, BackendError, EmoEdgeError
from sdk.runtime.runners import RUNNERS, Runner

AUTO = "auto"


@dataclass(frozen=True)
class Backend:
    name: str
    suffixes: tuple[str, ...]
    runtime: str  # what runs it, for messages and the benchmark table
    package: str  # the pip package that provides the runtime


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("executorch", (".pte",), "ExecuTorch (XNNPACK)", "executorch"),
        Backend("litert", (".tflite",), "LiteRT Interpreter", "ai-edge-litert"),
        Backend("onnx", (".onnx",), "ONNX Runtime (CPU)", "onnxruntime"),
        Backend("torch", (".pt",), "PyTorch eager", "torch"),
    )
}
CHECKPOINT_NAME = "model.pt"
#: The suffixes of exported artifacts (every backend but torch).
ARTIFACT_SUFFIXES = tuple(s for b in BACKENDS.values() if b.name != "torch" for s in b.suffixes)


def is_artifact(path: Path | str) -> bool:
    """Whether `path` names an exported artifact file (by suffix; its manifest is `<path>.json`)."""
    return Path(path).suffix in ARTIFACT_SUFFIXES


def find_artifacts(root: Path | str) -> list[tuple[Path, dict]]:
    """(artifact, manifest) for every exported artifact under `root`, recursively, sorted by path: the
    project's one discovery rule (sdk.bench, export.arm64). An artifact is a file with an artifact
    suffix whose sidecar `<artifact>.json` is a JSON object; others are skipped. The manifest is not
    checked here (loading does that)."""
    import json

    from sdk.runtime.manifest import sidecar_path

    found = []
    for path in sorted(p for p in Path(root).rglob("*") if is_artifact(p) and p.is_file()):
        try:
            manifest = json.loads(sidecar_path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(manifest, dict):
            found.append((path, manifest))
    return found


def backend_for(path: Path | str) -> str:
    """The backend that runs the file at `path` (by suffix; a directory holding model.pt is torch)."""
    path = Path(path)
    if path.is_dir():
        if (path / CHECKPOINT_NAME).is_file():
            return "torch"
        artifacts = sorted(p.name for p in path.iterdir() if is_artifact(p))
        hint = f"; it holds {', '.join(artifacts)}: pass one of them" if artifacts else ""
        raise BackendError(f"{path} is a directory without {CHECKPOINT_NAME}{hint}")
    for backend in BACKENDS.values():
        if path.suffix in backend.suffixes:
            return backend.name
    known = ", ".join(f"{s} ({b.name})" for b in BACKENDS.values() for s in b.suffixes)
    raise BackendError(f"{path}: unknown model file suffix {path.suffix!r}; expected one of {known}")


def check_backend(name: str, path: Path | str) -> str:
    """Resolve `auto` and refuse a backend that cannot run this file."""
    if name == AUTO:
        return backend_for(path)
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {AUTO}, {', '.join(BACKENDS)}")
    found = backend_for(path)
    if found != name:
        raise BackendError(
            f"{path}: backend {name!r} runs {'/'.join(BACKENDS[name].suffixes)} files, this one is for {found!r}; "
            f"use backend='{found}' or 'auto'"
        )
    return name


def load_runner(name: str, path: Path | str, num_threads: int = 1) -> Runner:
    """A runner for the artifact (or checkpoint) at `path` in backend `name`.

    BackendError when the runtime is missing (its cause an ImportError or
    sdk.runtime.native.NativeUnavailable) or refuses the file (the runtime's own error as cause)."""
    from sdk.runtime.native import NativeUnavailable

    if name not in RUNNERS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(RUNNERS)}")
    try:
        return RUNNERS[name](Path(path), num_threads)
    except ImportError as err:
        raise BackendError(
            f"the {name} backend needs the {BACKENDS[name].package!r} package ({err}); "
            f"`pip install {_EXTRA.get(name, BACKENDS[name].package)}` or use another backend"
        ) from err
    except NativeUnavailable as err:
        raise BackendError(f"the native ExecuTorch runner is unavailable: {err}") from err
    except EmoEdgeError:
        raise
    except (RuntimeError, ValueError, OSError) as err:
        if name == "torch" and isinstance(err, (ValueError, OSError)):  # an unreadable or refused checkpoint
            raise ArtifactError(str(err)) from err
        raise BackendError(f"{path}: {BACKENDS[name].runtime} could not load it ({type(err).__name__}: {err})") from err


#: What to install for a backend's runtime (the base install has onnx and litert).
_EXTRA = {"executorch": "'emoedge[executorch]'", "torch": "'emoedge[train]'"}
