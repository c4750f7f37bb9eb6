"""Reading and checking a manifest: what the runtime needs before it runs an artifact.

The build side (export.manifest) writes manifests; this module is the reading side,
shared by the SDK, the export verification and the test tools, so that a manifest is
checked one way everywhere.

`<artifact>.json` always sits beside the artifact (the sidecar, `sidecar_path`). It
holds the artifact's `sha256` and `size_bytes`; `check_artifact` refuses a missing
manifest, an unsupported `manifest_version` (the Kotlin and Swift cores refuse it
too), a different size (truncated file) or sha256 (bit flip, replaced file).

The sha256 covers the artifact, not the manifest's meaning, so the COVERED fields are
hashed into `manifest_digest` and the artifact carries that digest: a .pte/.tflite
ends with a fixed-size trailer (`TRAILER_PREFIX` + 64 hex digits + "\\n"; both
runtimes ignore bytes after the program), an .onnx holds it in
`metadata_props[DIGEST_KEY]`. sdk.runtime.probe compares the two.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sdk.atomic import sha256_file
from sdk.errors import ArtifactError

#: The manifest layout this runtime reads (and export.manifest writes); the mobile cores check the same.
MANIFEST_VERSION = 1
EMBEDDED_KEY = "emoedge.manifest"
DIGEST_KEY = "emoedge.manifest_digest"
#: The model's two outputs, in order (sdk.model's signature); every artifact names them so.
OUTPUT_NAMES = ("logits", "gate_weights")
#: The manifest fields whose meaning the digest covers (absent ones hash as null).
COVERED = ("manifest_version", "class_names", "modalities", "inputs", "outputs", "spec", "self_test")
TRAILER_PREFIX = b"\nEMOEDGE-MANIFEST-SHA256:"
TRAILER_SIZE = len(TRAILER_PREFIX) + 64 + 1
FIX = "re-export it with `python -m export` (or restore both files from the same export)"


def sidecar_path(artifact: Path | str) -> Path:
    """Where the manifest of `artifact` lives: `<artifact>.json`."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def input_names(spec) -> list[str]:
    """The artifact's input names: the modalities in spec order, then `presence`."""
    return [*spec.modality_names, "presence"]


def manifest_digest(manifest: dict) -> str:
    """sha256 of the COVERED fields as canonical JSON (sorted keys, no spaces, after a JSON round trip)."""
    covered = json.loads(json.dumps({k: manifest.get(k) for k in COVERED}))
    text = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def trailer(digest: str) -> bytes:
    return TRAILER_PREFIX + digest.encode() + b"\n"


def read_trailer(artifact: Path | str) -> str | None:
    """The manifest digest a .pte/.tflite ends with, or None when it has no trailer."""
    with open(artifact, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < TRAILER_SIZE:
            return None
        f.seek(-TRAILER_SIZE, os.SEEK_END)
        tail = f.read(TRAILER_SIZE)
    if not tail.startswith(TRAILER_PREFIX) or not tail.endswith(b"\n"):
        return None
    digest = tail[len(TRAILER_PREFIX):-1].decode("ascii", errors="replace")
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def check_version(manifest: dict, where: Path | str) -> None:
    """Refuse a manifest of another layout (as the Kotlin and Swift cores do)."""
    version = manifest.get("manifest_version") if isinstance(manifest, dict) else None
    if isinstance(version, bool) or version != MANIFEST_VERSION:
        raise ArtifactError(
            f"{where}: manifest_version {version!r} is not supported (this runtime reads {MANIFEST_VERSION}); "
            f"re-export the model with this emoedge's `python -m export`, or use the emoedge that exported it")


def read_manifest(artifact: Path | str, verify: bool = True) -> dict:
    """The sidecar manifest of `artifact`, version-checked; with `verify`, also size- and sha256-checked."""
    if verify:
        return check_artifact(artifact)
    artifact, manifest_path = Path(artifact), sidecar_path(artifact)
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{artifact}: cannot read its manifest {manifest_path.name} ({err}); {FIX}") from err
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path}: not a valid emoedge manifest (not a JSON object); {FIX}")
    check_version(manifest, manifest_path)
    return manifest


def check_artifact(artifact: Path | str) -> dict:
    """Return the sidecar manifest if the artifact matches it; raise ArtifactError otherwise."""
    artifact = Path(artifact)
    if not artifact.is_file():
        raise ArtifactError(f"{artifact}: artifact not found")
    manifest_path = sidecar_path(artifact)
    if not manifest_path.is_file():
        raise ArtifactError(f"{artifact}: its manifest {manifest_path.name} is missing; {FIX}")
    try:
        manifest = json.loads(manifest_path.read_text())
        expected_sha, expected_size = manifest["sha256"], int(manifest["size_bytes"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ArtifactError(f"{manifest_path}: not a valid emoedge manifest ({err}); {FIX}") from err
    check_version(manifest, manifest_path)
    size = artifact.stat().st_size
    if size != expected_size:
        raise ArtifactError(
            f"{artifact}: {size} bytes but its manifest says {expected_size} (truncated or replaced file); {FIX}"
        )
    actual = sha256_file(artifact)
    if actual != expected_sha:
        raise ArtifactError(
            f"{artifact}: sha256 {actual[:16]}... does not match the manifest's {str(expected_sha)[:16]}... "
            f"(corrupted or modified file, or a manifest from another export); {FIX}"
        )
    return manifest


__all__ = ["COVERED", "DIGEST_KEY", "EMBEDDED_KEY", "MANIFEST_VERSION", "OUTPUT_NAMES", "TRAILER_PREFIX",
           "TRAILER_SIZE", "ArtifactError", "check_artifact", "check_version", "input_names", "manifest_digest",
           "read_manifest", "read_trailer", "sha256_file", "sidecar_path", "trailer"]
