"""The manifest, build side: the model spec plus what one artifact is, written beside it and embedded where possible.

Reading and checking (sidecar_path, check_artifact, manifest_digest, read_trailer, the
manifest_version check) is the runtime's: sdk.runtime.manifest, re-exported here.

`<artifact>.json` always sits beside the artifact. ONNX also carries it in
`metadata_props["emoedge.manifest"]`; a .pte and a .tflite rely on the sidecar.
An embedded copy cannot hold the artifact's own sha256 (writing it would change
the hash), so the embedded manifest omits `sha256` and `size_bytes`; the sidecar
has both and is what `check_artifact` trusts.

`check_artifact` runs before any inference: a missing manifest, a size that
differs (truncated file) or a sha256 that differs (bit flip, replaced file, edited
manifest) raises `ArtifactError` naming the file and what to do.

The sha256 covers the artifact, not the manifest: an edited sidecar (class names
reversed, a class dropped, shapes changed) would pass it. So the manifest's
meaning (`COVERED`: manifest_version, class names, modality names, input and
output shapes and dtypes, the spec with kinds, shapes, normalization and
vocabulary, and the export-time self-test outputs) is hashed into
`manifest_digest`, and the artifact itself carries that digest: a .pte or
.tflite ends with a fixed-size trailer (`TRAILER_PREFIX` + 64 hex digits + "\n";
both runtimes ignore bytes after the program), an .onnx holds it in
`metadata_props["emoedge.manifest_digest"]`. The runtime (sdk.runtime.probe)
recomputes the digest from the sidecar and compares it with the artifact's copy;
an artifact exported before digests existed is refused with "re-export it".
This detects edits and mismatched files, not a forger who rewrites both files.

`self_test` records the artifact's own outputs on fixed inputs
(sdk.runtime.probe.self_test_inputs), measured at export; the runtime's probe
re-runs them in a child process before the artifact is loaded in-process.
"""
from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from sdk.atomic import sha256_file, write_bytes, write_json
from sdk.runtime.manifest import (COVERED, DIGEST_KEY, EMBEDDED_KEY, MANIFEST_VERSION,  # noqa: F401 - re-exported
                                  OUTPUT_NAMES, TRAILER_PREFIX, TRAILER_SIZE, ArtifactError, check_artifact,
                                  input_names, manifest_digest, read_trailer, sidecar_path, trailer)

#: Formats the runtime can run here (so the self-test can be measured at export).
SELF_TEST_BACKENDS = {"executorch": "executorch", "litert": "litert", "onnx": "onnx"}


def tool_versions(*packages: str) -> dict[str, str]:
    versions = {}
    for name in ("emoedge", "torch", *packages):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def preprocessing(spec) -> dict[str, Any]:
    """What a runtime does to raw features before the model (sdk.data.normalize, sdk.inputs)."""
    return {
        "normalize": "(x - mean) / std per feature (per channel for frames); tokens are not normalized",
        "sequence": "keep the last seq_len steps; left-pad shorter inputs with zeros after normalization",
        "presence": "float 1.0 for a present modality, 0.0 for an absent one (its input is all zeros)",
        "modalities": {m.name: {"mean": m.normalization.mean, "std": m.normalization.std} for m in spec.modalities},
    }


def build_manifest(spec, format_name: str, precision: str, artifact: Path | str, notes: dict | None = None,
                   tools: dict | None = None, runtime_names: dict | None = None) -> dict[str, Any]:
    """The manifest without sha256/size (see `finalize`)."""
    shapes = [[1, *m.input_shape()] for m in spec.modalities] + [[1, len(spec.modalities)]]
    # The LiteRT converter narrows int64 model inputs to int32 (token ids fit easily).
    token_dtype = "int32" if format_name == "litert" else "int64"
    dtypes = [token_dtype if m.kind == "tokens" else "float32" for m in spec.modalities] + ["float32"]
    return {
        "manifest_version": MANIFEST_VERSION,
        "format": format_name,
        "precision": precision,
        "artifact": Path(artifact).name,
        "class_names": list(spec.class_names),
        "modalities": list(spec.modality_names),
        "inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in zip(input_names(spec), shapes, dtypes)],
        "outputs": [
            {"name": OUTPUT_NAMES[0], "shape": [1, spec.num_classes], "dtype": "float32",
             "meaning": "logits; softmax gives class probabilities"},
            {"name": OUTPUT_NAMES[1], "shape": [1, len(spec.modalities)], "dtype": "float32",
             "meaning": "fusion gate weight per modality (0 for an absent one)"},
        ],
        "runtime_tensor_names": runtime_names or {},
        "preprocessing": preprocessing(spec),
        "tools": tools or tool_versions(),
        "notes": notes or {},
        "spec": spec.to_dict(),
    }


def _embed_digest(artifact: Path, fmt: str, digest: str) -> None:
    """Write the digest into the artifact: ONNX metadata_props, else the trailer (atomically)."""
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(artifact))
        for entry in list(proto.metadata_props):
            if entry.key == DIGEST_KEY:
                proto.metadata_props.remove(entry)
        entry = proto.metadata_props.add()
        entry.key, entry.value = DIGEST_KEY, digest
        write_bytes(artifact, proto.SerializeToString())
        return
    data = artifact.read_bytes()
    if read_trailer(artifact) is not None:
        data = data[:-TRAILER_SIZE]
    write_bytes(artifact, data + trailer(digest))


def finalize(manifest: dict, artifact: Path | str, self_test: bool = True) -> dict:
    """Record the self-test outputs (formats that run here), bind the manifest to the artifact
    (its digest embedded in the artifact), add the artifact's sha256 and size, and write the
    sidecar atomically."""
    artifact = Path(artifact)
    manifest = dict(manifest)
    backend = SELF_TEST_BACKENDS.get(manifest.get("format", ""))
    if self_test and backend:
        from sdk.runtime.probe import measure_self_test

        manifest["self_test"] = measure_self_test(backend, artifact, manifest)
    digest = manifest_digest(manifest)
    _embed_digest(artifact, manifest.get("format", ""), digest)
    manifest = {**manifest, "manifest_digest": digest, "sha256": sha256_file(artifact),
                "size_bytes": artifact.stat().st_size}
    write_json(sidecar_path(artifact), manifest)
    return manifest
