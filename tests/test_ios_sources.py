"""CI checks of the iOS demo's Swift sources, without a Swift compiler (issue 7).

- Syntax: every `*.swift` under ios_demo/ parses with tree-sitter-swift without an
  ERROR or MISSING node (a failure lists file:line:column); a broken snippet must be
  flagged, so the check can fail.
- Rules: `ast-grep scan` with ios_demo/sgconfig.yml (no `try!`, no `as!`, no force
  unwrap on the inference path, no fatalError/precondition in the core) finds nothing;
  a snippet breaking each rule is caught by that rule.
- Manifest keys: the keys the Swift core decodes (its `CodingKeys` enums, read from the
  source with tree-sitter) are the keys export/manifest.py writes and the keys the
  Kotlin core (android_demo/core/.../Manifest.kt) reads.

None of this checks types, linking or running: see ios_demo/README.md, "What CI cannot check".
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IOS = ROOT / "ios_demo"
KOTLIN_MANIFEST = ROOT / "android_demo" / "core" / "src" / "main" / "kotlin" / "ai" / "emoedge" / "core" / "Manifest.kt"

from tests.helpers import unavailable, under_ci

# The test extra installs both; a missing one skips on a user's machine and fails under CI.
try:
    import tree_sitter
    import tree_sitter_swift
except ImportError as err:  # pragma: no cover - depends on the environment
    if under_ci():
        raise ImportError(f"{err}: CI must run the iOS checks (pip install -e '.[test]')") from err
    pytest.skip(f"{err}: pip install -e '.[test]' (tree-sitter, tree-sitter-swift)", allow_module_level=True)

#: Files the issue requires; their absence is a failure, not a smaller count.
REQUIRED = [
    "Package.swift",
    "Sources/EmoEdgeCore/Manifest.swift",
    "Sources/EmoEdgeCore/ModelSpec.swift",
    "Sources/EmoEdgeCore/InputPacker.swift",
    "Sources/EmoEdgeCore/WordTokenizer.swift",
    "Sources/EmoEdgeCore/Classification.swift",
    "Sources/EmoEdgeCore/RingBuffer.swift",
    "Sources/EmoEdgeCore/ModalityWindows.swift",
    "Sources/EmoEdgeCore/LatencyStats.swift",
    "Sources/EmoEdgeCore/Energy.swift",
    "Sources/EmoEdgeCore/FaceCrop.swift",
    "Sources/EmoEdgeCore/Live.swift",
    "App/EmoEdgeDemoApp.swift",
    "App/ContentView.swift",
    "App/Runtimes/ExecuTorchRuntime.swift",
    "App/Runtimes/LiteRTRuntime.swift",
    "Benchmarks/ArtifactBenchmarkTests.swift",
    "Tests/EmoEdgeCoreTests/ManifestContractTests.swift",
    "Tests/EmoEdgeCoreTests/LiveContractTests.swift",
    "Tests/EmoEdgeCoreTests/LiveUnitTests.swift",
    "Sources/EmoEdgeCore/VoiceActivity.swift",
    "App/Runtimes/SileroVADRuntime.swift",
    "Tests/EmoEdgeCoreTests/VoiceActivityTests.swift",
]


def swift_parser():
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))


def swift_files() -> list[Path]:
    return sorted(p for p in IOS.rglob("*.swift") if ".build" not in p.parts)


def syntax_problems(source: bytes, parser=None) -> tuple[list[str], int]:
    """(["line:column: ERROR|MISSING <type>"...], node count) of one Swift source."""
    tree = (parser or swift_parser()).parse(source)
    problems, count, stack = [], 0, [tree.root_node]
    while stack:
        node = stack.pop()
        count += 1
        if node.type == "ERROR" or node.is_missing:
            what = f"MISSING {node.type}" if node.is_missing else "ERROR"
            problems.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1}: {what}")
        stack.extend(node.children)
    return sorted(problems, key=lambda p: tuple(int(x) for x in p.split(":")[:2])), count


# ------------------------------------------------------------------ syntax
def test_required_swift_sources_exist():
    missing = [rel for rel in REQUIRED if not (IOS / rel).is_file()]
    assert not missing, f"missing Swift sources: {missing}"


def test_every_swift_file_parses(capsys):
    parser = swift_parser()
    files = swift_files()
    failures, nodes = [], 0
    for path in files:
        problems, count = syntax_problems(path.read_bytes(), parser)
        nodes += count
        failures += [f"{path.relative_to(ROOT)}:{p}" for p in problems]
    assert len(files) >= len(REQUIRED)
    assert not failures, "Swift syntax errors:\n" + "\n".join(failures)
    with capsys.disabled():
        print(f"\n[ios] tree-sitter-swift: {len(files)} Swift files, {nodes} nodes, 0 errors")


@pytest.mark.parametrize("snippet", [
    b"func f( {\n  let x = \n}\n",                   # unbalanced parenthesis, missing expression
    b"struct S {\n  var a: Int\n",                    # unclosed body
    b"let y = [1, 2,\nlet z = 3\n",                   # unclosed array
])
def test_a_broken_snippet_is_flagged(snippet):
    problems, _ = syntax_problems(snippet)
    assert problems, f"tree-sitter-swift accepted broken Swift: {snippet!r}"


def test_valid_modern_swift_is_not_flagged():
    snippet = (b"@MainActor final class M: ObservableObject {\n"
               b"  @Published var x: [String: Int] = [:]\n"
               b"  func f() async throws -> Int { guard let v = x[\"a\"] else { return 0 }; return try await g(v) }\n"
               b"}\n")
    assert syntax_problems(snippet)[0] == []


# ------------------------------------------------------------------ ast-grep rules
def ast_grep() -> str:
    for name in ("ast-grep", "sg"):
        for candidate in (Path(sys.executable).parent / name, shutil.which(name)):
            if candidate and Path(candidate).is_file():
                return str(candidate)
    unavailable("ast-grep not installed: pip install -e '.[test]' (ast-grep-cli)")


def scan(project: Path) -> list[dict]:
    done = subprocess.run([ast_grep(), "scan", "--json=compact", "."], cwd=project, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode in (0, 1), f"ast-grep failed ({done.returncode}): {done.stderr}"
    return json.loads(done.stdout or "[]")


def rule_ids() -> list[str]:
    ids = []
    for path in sorted((IOS / "rules").glob("*.yml")):
        match = re.search(r"^id:\s*(\S+)", path.read_text(), re.M)
        assert match, f"{path.name}: no id"
        ids.append(match.group(1))
    return ids


def test_rules_find_nothing_in_the_sources(capsys):
    ids = rule_ids()
    assert {"no-try-bang", "no-force-cast", "no-force-unwrap-inference-path", "no-fatal-error-in-core"} <= set(ids)
    findings = scan(IOS)
    report = [f"{f['file']}:{f['range']['start']['line'] + 1}: {f['ruleId']}: {f['lines'].strip()}" for f in findings]
    assert not findings, "ast-grep findings:\n" + "\n".join(report)
    with capsys.disabled():
        print(f"\n[ios] ast-grep: {len(ids)} rules over {len(swift_files())} Swift files, 0 findings")


#: A snippet per rule, placed where the rule applies; each must be caught by its rule only.
VIOLATIONS = {
    "no-try-bang": ("App/Bad.swift", "func f() { let data = try! load() }\n"),
    "no-force-cast": ("App/Bad.swift", "func f(x: Any) -> Int { return x as! Int }\n"),
    "no-force-unwrap-inference-path": ("App/Runtimes/Bad.swift", "func f(x: [Int]) -> Int { return x.first! }\n"),
    "no-fatal-error-in-core": ("Sources/EmoEdgeCore/Bad.swift", "func f() { fatalError(\"no\") }\n"),
}


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
def test_each_rule_catches_its_violation(tmp_path, rule):
    shutil.copy(IOS / "sgconfig.yml", tmp_path / "sgconfig.yml")
    shutil.copytree(IOS / "rules", tmp_path / "rules")
    rel, code = VIOLATIONS[rule]
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(code)
    found = {f["ruleId"] for f in scan(tmp_path)}
    assert found == {rule}, f"{rule}: ast-grep found {found}"


def test_force_unwrap_rule_ignores_logical_not_and_other_files(tmp_path):
    shutil.copy(IOS / "sgconfig.yml", tmp_path / "sgconfig.yml")
    shutil.copytree(IOS / "rules", tmp_path / "rules")
    (tmp_path / "Sources" / "EmoEdgeCore").mkdir(parents=True)
    (tmp_path / "Sources" / "EmoEdgeCore" / "Ok.swift").write_text(
        "func f(a: [Int], b: Bool) -> Bool { guard !a.isEmpty else { return !b }; return a != [] }\n")
    (tmp_path / "App").mkdir()
    (tmp_path / "App" / "ContentView.swift").write_text("let v = UIView(frame: .zero).layer.sublayers!\n")
    assert scan(tmp_path) == []


# ------------------------------------------------------------------ manifest keys
def swift_coding_keys(path: Path, type_name: str) -> set[str]:
    """The JSON keys of `type_name`'s nested `enum CodingKeys` (raw values, or case names)."""
    tree = swift_parser().parse(path.read_bytes())

    def named(node, name):
        return any(c.type == "type_identifier" and c.text.decode() == name for c in node.children)

    def find(node, name):
        if node.type == "class_declaration" and named(node, name):
            return node
        for child in node.children:
            found = find(child, name)
            if found is not None:
                return found
        return None

    owner = find(tree.root_node, type_name)
    assert owner is not None, f"{path.name}: no type {type_name}"
    body = next(c for c in owner.children if c.type == "class_body")
    enum = next((c for c in body.children if c.type == "class_declaration" and named(c, "CodingKeys")), None)
    assert enum is not None, f"{path.name}: {type_name} has no CodingKeys enum"
    keys = set()
    for entry in (n for c in enum.children if c.type == "enum_class_body" for n in c.children if n.type == "enum_entry"):
        parts = entry.children
        for i, part in enumerate(parts):
            if part.type != "simple_identifier":
                continue
            raw = parts[i + 2] if i + 2 < len(parts) and parts[i + 1].type == "=" else None
            keys.add(raw.text.decode().strip('"') if raw is not None else part.text.decode())
    assert keys, f"{path.name}: {type_name}.CodingKeys is empty"
    return keys


def swift_keys() -> dict[str, set[str]]:
    core = IOS / "Sources" / "EmoEdgeCore"
    return {
        "manifest": swift_coding_keys(core / "Manifest.swift", "ModelManifest"),
        "tensor": swift_coding_keys(core / "Manifest.swift", "TensorDescription"),
        "runtime_tensor_names": swift_coding_keys(core / "Manifest.swift", "RuntimeTensorNames"),
        "spec": swift_coding_keys(core / "ModelSpec.swift", "ModelSpec"),
        "modality": swift_coding_keys(core / "ModelSpec.swift", "ModalitySpec"),
        "normalization": swift_coding_keys(core / "ModelSpec.swift", "Normalization"),
    }


def python_keys() -> dict[str, set[str]]:
    """The keys export/manifest.py writes (a real build_manifest + finalize), per level."""
    from export.manifest import build_manifest
    from sdk.spec import FEATURES, ModalitySpec, ModelSpec, Normalization

    spec = ModelSpec([ModalitySpec("audio", FEATURES, 2, feature_dim=3)], ["negative", "positive"])
    manifest = build_manifest(spec, "litert", "fp32", "model.tflite", tools={"emoedge": "test"},
                              runtime_names={"signature": "serving_default", "inputs": ["args_0", "args_1"]})
    litert_names = _returned_dict_keys(ROOT / "export" / "litert.py", "runtime_names")
    return {
        "manifest": set(manifest) | {"sha256", "size_bytes"},  # finalize() adds the last two
        "tensor": {k for entry in manifest["inputs"] + manifest["outputs"] for k in entry},
        "runtime_tensor_names": litert_names,
        "spec": set(spec.to_dict()),
        "modality": {f.name for f in dataclasses.fields(ModalitySpec)},
        "normalization": {f.name for f in dataclasses.fields(Normalization)},
    }


def _returned_dict_keys(path: Path, function: str) -> set[str]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for ret in (n for n in ast.walk(node) if isinstance(n, ast.Return)):
                if isinstance(ret.value, ast.Dict):
                    return {k.value for k in ret.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError(f"{path.name}: {function} returns no dict literal")


#: Python writes them; neither mobile core reads them (ModelManifest.CodingKeys says why). Both read
#: `notes` (its `delegation`: the delegate's backends and share of the graph, issue 18).
UNREAD_TOP_LEVEL = {"modalities", "preprocessing", "tools"}


def test_swift_reads_the_keys_python_writes():
    swift, python = swift_keys(), python_keys()
    assert swift["manifest"] | UNREAD_TOP_LEVEL == python["manifest"]
    assert not swift["manifest"] & UNREAD_TOP_LEVEL
    assert swift["modality"] == python["modality"]
    assert swift["normalization"] == python["normalization"]
    assert swift["runtime_tensor_names"] == python["runtime_tensor_names"]
    assert swift["tensor"] == python["tensor"]
    assert swift["spec"] <= python["spec"], f"Swift reads spec keys Python never writes: {swift['spec'] - python['spec']}"


def kotlin_keys(text: str) -> dict[str, set[str]]:
    """The keys Manifest.kt reads, by the variable it indexes: root[...] (top level),
    spec[...], m[...] (a modality), norm[...], obj("inputs[]")[...] (a tensor entry),
    (root["runtime_tensor_names"] ...).get(...)."""
    levels = {"root": "manifest", "spec": "spec", "m": "modality", "norm": "normalization"}
    keys: dict[str, set[str]] = {level: set() for level in [*levels.values(), "tensor", "runtime_tensor_names"]}
    unknown = []
    for receiver, key in re.findall(r"(\w+)\[\"([a-z_0-9]+)\"\]", text):
        if receiver in levels:
            keys[levels[receiver]].add(key)
        else:
            unknown.append(f"{receiver}[{key!r}]")
    keys["tensor"] = set(re.findall(r"obj\(\"(?:inputs|outputs)\[\]\"\)\[\"([a-z_0-9]+)\"\]", text))
    keys["runtime_tensor_names"] = set(re.findall(r"runtime_tensor_names\"\][^\n]*?\.get\(\"([a-z_0-9]+)\"\)", text))
    assert not unknown, f"Manifest.kt indexes JSON through variables this test does not know: {unknown}"
    return keys


def test_swift_and_kotlin_read_the_same_manifest_keys():
    if not KOTLIN_MANIFEST.is_file():
        pytest.fail(f"{KOTLIN_MANIFEST.relative_to(ROOT)} is missing: the Android core must read the same keys")
    swift, kotlin = swift_keys(), kotlin_keys(KOTLIN_MANIFEST.read_text())
    for level in ("manifest", "spec", "modality", "normalization", "runtime_tensor_names"):
        assert swift[level] == kotlin[level], (
            f"{level}: Swift reads {sorted(swift[level])}, Kotlin reads {sorted(kotlin[level])}")
    # Kotlin reads only the names of inputs/outputs; Swift also their shape and dtype
    # (it checks shapes against the spec and narrows LiteRT token ids to int32).
    assert kotlin["tensor"] and kotlin["tensor"] <= swift["tensor"]


def test_the_key_extractors_see_a_change(tmp_path):
    """Renaming a key in a copy of the sources makes the comparisons differ."""
    manifest = (IOS / "Sources" / "EmoEdgeCore" / "Manifest.swift").read_text()
    changed = tmp_path / "Manifest.swift"
    changed.write_text(manifest.replace('case sizeBytes = "size_bytes"', 'case sizeBytes = "size"'))
    keys = swift_coding_keys(changed, "ModelManifest")
    assert "size" in keys and "size_bytes" not in keys
    kotlin = kotlin_keys('val a = root["format"].str("f")\nval b = spec["dataset"]\nval c = m["seq_len"]\n')
    assert kotlin["manifest"] == {"format"} and kotlin["spec"] == {"dataset"} and kotlin["modality"] == {"seq_len"}


def test_the_app_links_the_executorch_release_that_exports():
    """project.yml's ExecuTorch Swift package branch is swiftpm-<the executorch the Python exporter pins>."""
    pinned = re.search(r'"executorch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    branch = re.search(r"^\s*branch:\s*(\S+)\s*$", (IOS / "project.yml").read_text(), re.M)
    assert pinned and branch, "executorch pin or the package branch not found"
    assert branch.group(1) == f"swiftpm-{pinned.group(1)}", (
        f"project.yml links ExecuTorch {branch.group(1)} but the exporter writes .pte with executorch "
        f"{pinned.group(1)}: use branch swiftpm-{pinned.group(1)}")


def test_the_contract_tests_read_the_live_vectors():
    """The XCTest suite reads the live contract files (parsed, not run, here: no Swift compiler)."""
    tests = "\n".join(p.read_text() for p in (IOS / "Tests" / "EmoEdgeCoreTests").glob("*.swift"))
    for name in ("face_crop.json", "manifest_parsing.json", "input_packing.json", "live_small.json", "vad.json"):
        assert f'"{name}"' in tests, name
    assert "case \"int16\": return .pcm16(" in tests


def test_compute_units_are_the_names_executorch_core_ml_writes():
    """ComputeUnits' raw values (Accelerator.swift) are the compute_unit compile-spec values ExecuTorch's
    Core ML backend writes (coremltools ComputeUnit names in lower case), and AcceleratorPlan handles every
    ExecuTorch format the exporter can write (issue 18)."""
    ct = pytest.importorskip("coremltools")
    source = (IOS / "Sources" / "EmoEdgeCore" / "Accelerator.swift").read_text()
    enum = source[source.index("public enum ComputeUnits"):]
    enum = enum[:enum.index("}")]
    assert set(re.findall(r'case \w+ = "([a-z_]+)"', enum)) == {u.name.lower() for u in ct.ComputeUnit}
    for format_name in ("executorch", "executorch-coreml", "executorch-mps", "executorch-vulkan", "executorch-qnn",
                        "litert"):
        assert f'"{format_name}"' in source, format_name
    tests = (IOS / "Tests" / "EmoEdgeCoreTests" / "AcceleratorPlanTests.swift").read_text()
    assert "needsComputeUnitOverride" in tests and '"compute_units"' in tests


def test_the_vad_manifest_keys_are_the_ones_export_silero_writes():
    """SileroManifest (VoiceActivity.swift) decodes only keys `python -m export.silero` writes into silero_vad.json."""
    from export.silero import PTE_NAME, manifest

    core = IOS / "Sources" / "EmoEdgeCore" / "VoiceActivity.swift"
    written = manifest({PTE_NAME: {"status": "ok", "sha256": "0" * 64}})
    assert swift_coding_keys(core, "SileroManifest") <= set(written)
    assert swift_coding_keys(core, "SileroFile") <= set(written["files"][PTE_NAME])


def test_the_app_runs_silero_vad_on_the_microphone():
    """Issue 16: the microphone's audio counts only when Silero VAD (silero_vad.pte on ExecuTorch) hears speech.
    Source checks (no Swift compiler here); VoiceActivityTests covers the core's framing and decision."""
    model = (IOS / "App" / "DemoViewModel.swift").read_text()
    runtime = (IOS / "App" / "Runtimes" / "SileroVADRuntime.swift").read_text()
    for call in ("voiceActivity: voiceActivity(for: choice.manifest)", "SileroVADRuntime.bundled()",
                 "SileroFrames.framesInWindow(", "try vad.run(input, state)", "self.live?.voiceActivity != nil"):
        assert call in model, call
    assert runtime.index("try manifest.checkArtifact(artifact)") < runtime.index("Module(filePath:")
    assert 'try module.load("forward")' in runtime and "module.forward(" in runtime
