"""Crash-safe writes: every file emoedge writes goes through this module.

A kill -9 (or power loss) at any moment leaves either the previous version of an
output or the complete new one, never a torn file or a mix of two runs:

- `atomic_write_bytes(path, write)` (and `write_json`, `write_text`, `save_figure`):
  the bytes go to a hidden temp file beside `path`, are flushed and fsynced, then
  `os.replace` renames the file into place and the directory is fsynced.
- `staged_dir(target)`: a whole output directory (a training run, an export's dist)
  is written into a hidden sibling `.NAME.staging-PID-XXXX/`, every file in it is
  fsynced, and only then does it take the target's place. On Linux the swap is one
  `renameat2(RENAME_EXCHANGE)`: the target path names the complete old directory up
  to that instant and the complete new one after it. Elsewhere (or on a file system
  without it) the old directory is renamed aside and the new one renamed in; a kill
  between the two renames is repaired by the next run (the old directory is put
  back). The old directory is then deleted. Leftover staging directories of a killed
  run are removed by the next run that writes the same target.
- `check_output_dir(target, ...)`: the early check every CLI runs before any work,
  so that an unwritable `--out` fails in a second, not after hours of training.

`crash_point(label)` is the test hook: with `EMOEDGE_CRASH_AT=PATTERN` (fnmatch, and
`PATTERN@N` for its N-th match in the process) the process SIGKILLs itself at that
named point; tests/crash_points.py uses it to kill the real CLIs at chosen writes.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import hashlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

CRASH_ENV = "EMOEDGE_CRASH_AT"
_crash_counts: dict[str, int] = {}


class OutputError(ValueError):
    """An output path that cannot be written (or must not be replaced); raised before any work."""


# --------------------------------------------------------------------------- test hook
def crash_point(label: str) -> None:
    """SIGKILL this process if `label` matches $EMOEDGE_CRASH_AT (see the module docstring)."""
    want = os.environ.get(CRASH_ENV)
    if not want:
        return
    pattern, _, nth = want.partition("@")
    if not fnmatch.fnmatchcase(label, pattern):
        return
    _crash_counts[pattern] = _crash_counts.get(pattern, 0) + 1
    if _crash_counts[pattern] >= int(nth or 1):
        sys.stdout.flush()
        sys.stderr.write(f"{CRASH_ENV}: SIGKILL at {label}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- files
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: Path | str) -> None:
    """fsync a directory, so that a rename inside it survives a power loss (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, write: Callable[[Any], Any]) -> Path:
    """Call `write(file)` on a temp file beside `path`, fsync it, then rename it into place.

    The file gets the usual permissions (0o666 minus the umask), not mkstemp's 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            crash_point(f"write:{path.name}")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        crash_point(f"replace:{path.name}")
        os.replace(tmp, path)
        crash_point(f"replaced:{path.name}")
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_bytes(path: Path | str, data: bytes) -> Path:
    return atomic_write_bytes(path, lambda f: f.write(data))


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, data: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(data, indent=indent) + "\n")


def save_figure(fig, path: Path | str, **savefig_kwargs) -> Path:
    """`fig.savefig` into memory, then an atomic write (a kill never leaves a 0-byte PNG)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=savefig_kwargs.pop("format", path.suffix.lstrip(".") or "png"), **savefig_kwargs)
    return write_bytes(path, buffer.getvalue())


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_tree(root: Path | str) -> None:
    """fsync every file and directory under `root` (files written by third-party exporters included)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            file = os.path.join(dirpath, name)
            if os.path.islink(file):
                continue
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


# --------------------------------------------------------------------------- directories
def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux") or os.environ.get("EMOEDGE_NO_RENAME_EXCHANGE"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(target: Path, kind: str) -> list[tuple[Path, int]]:
    """Hidden `.NAME.<kind>-PID-XXXX` siblings of `target` (kind: staging or old) with their pid."""
    found = []
    if not target.parent.is_dir():
        return found
    prefix = f".{target.name}.{kind}-"
    for entry in target.parent.iterdir():
        if entry.name.startswith(prefix):
            try:
                found.append((entry, int(entry.name[len(prefix):].split("-")[0])))
            except ValueError:
                continue
    return found


def recover(target: Path | str, quiet: bool = False) -> list[str]:
    """Clean up after a run that was killed while writing `target`; returns what was done.

    - staging directories of dead processes are removed (their run never finished);
    - if `target` is missing but an `.old` directory of a dead process exists (a kill
      between the two renames of the fallback swap), the old directory is put back;
    - remaining `.old` directories of dead processes are removed.
    """
    target = Path(target)
    done = []
    for path, pid in _leftovers(target, "staging"):
        if not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path.name}, left by a run that was killed while writing {target}")
    for path, pid in sorted(_leftovers(target, "old"), key=lambda p: p[0].stat().st_mtime, reverse=True):
        if _pid_alive(pid):
            continue
        if not target.exists():
            os.rename(path, target)
            done.append(f"restored {target} from {path.name} (a run was killed while replacing it)")
        else:
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path.name}, the previous {target.name} of a killed run")
    if done:
        fsync_dir(target.parent)
        if not quiet:
            for line in done:
                print(f"note: {line}", file=sys.stderr)
    return done


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(target: Path | str, flag: str = "--out", ours: Iterable[str] = (),
                     replaces: bool = True) -> Path:
    """Fail early, before any work, if `target` cannot be written as an output directory.

    Checks that `target` is (or can become) a directory, that new entries can be
    created beside it (its staging directory lives there), and, with `replaces`,
    that an existing non-empty `target` holds one of the `ours` names (the outputs of
    a previous run of this tool): any other directory is refused rather than replaced.
    Raises OutputError naming the path and the fix.
    """
    target = Path(target).resolve() if Path(target).is_symlink() else Path(target)
    fix = f"pass a new directory you can write to as {flag} (e.g. {flag} runs/NAME)"
    if target.exists() and not target.is_dir():
        raise OutputError(f"{flag} {target} exists and is not a directory; {fix}")
    anchor = _nearest_existing(target.parent)
    if not anchor.is_dir():
        raise OutputError(f"{flag} {target}: {anchor} is a file, not a directory; {fix}")
    try:  # really create something there: permissions, read-only mounts and root all give the true answer
        probe = tempfile.mkdtemp(prefix=".emoedge-write-check-", dir=anchor)
        os.rmdir(probe)
    except OSError as err:
        raise OutputError(f"{flag} {target} cannot be written ({anchor}: {err.strerror or err}); {fix}") from None
    if replaces and target.is_dir():
        entries = [e.name for e in target.iterdir()]
        marks = set(ours)
        if entries and marks and not marks & set(entries):
            shown = ", ".join(sorted(entries)[:6]) + (", ..." if len(entries) > 6 else "")
            raise OutputError(
                f"{flag} {target} is not empty and holds none of the files this command writes (it holds "
                f"{shown}); it would be replaced as a whole, so it is refused. Choose a new or empty directory, "
                f"or remove it first"
            )
    return target


def check_output_file(path: Path | str, flag: str) -> Path:
    """Fail early if the output file `path` cannot be written (see `check_output_dir`)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a directory; pass a file path, e.g. {flag} runs/result.json")
    check_output_dir(path.parent, flag=flag, replaces=False)
    return path


def _is_leftover(name: str) -> bool:
    """A hidden temp file or staging/old directory of a killed write (never carried into a new version)."""
    return name.startswith(".") and (name.endswith(".tmp") or ".staging-" in name or ".old-" in name)


def _link_tree(source: Path, dest: Path, skip: set[str]) -> None:
    """Recreate `source`'s entries (except `skip`) in `dest` with hard links (copies where links fail)."""
    for entry in source.iterdir():
        if entry.name in skip or _is_leftover(entry.name):
            continue
        target = dest / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_dir():
            shutil.copytree(entry, target, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(entry, target)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _remove_tree(path: Path, label: str) -> None:
    """Delete a replaced directory (with a crash point after the first file, to test a kill mid-removal)."""
    first = next((p for p in path.iterdir() if p.is_file() and not p.is_symlink()), None)
    if first is not None:
        first.unlink()
        crash_point(f"commit:{label}:removing")
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(target: Path | str, keep: Iterable[str] | None = None, flag: str = "--out",
               ours: Iterable[str] = (), quiet: bool = False) -> Iterator[Path]:
    """Write a directory's files together: yields a staging directory, then swaps it into `target`.

    keep=None: the new directory replaces `target` as a whole (a training run, an
    export). keep=NAMES: the entries of the existing `target` other than NAMES are
    carried over (hard links), and NAMES (the outputs being rewritten) are replaced
    together, e.g. PNAO keeps rounds/ and base/ and replaces best/, pnao.json and
    the figures. `ours` is passed to `check_output_dir` (refuse a foreign directory).
    If the body raises, the staging directory is removed and `target` is untouched.
    """
    target = Path(target)
    if target.is_symlink():  # replace the directory it points to, never the link (or files behind it)
        target = target.resolve()
    check_output_dir(target, flag, ours, replaces=keep is None)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target, quiet=quiet)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-{os.getpid()}-", dir=target.parent))
    old: Path | None = None
    os.chmod(stage, 0o777 & ~_umask())
    try:
        if keep is not None and target.is_dir():
            _link_tree(target, stage, set(keep))
        yield stage
        if keep is None and target.is_dir() and not quiet:
            extra = sorted(set(e.name for e in target.iterdir()) - set(e.name for e in stage.iterdir()))
            if extra:
                print(f"note: replacing {target}; its entries not written by this run go with it: "
                      f"{', '.join(extra[:8])}{', ...' if len(extra) > 8 else ''}", file=sys.stderr)
        label = target.name
        crash_point(f"commit:{label}:staged")
        fsync_tree(stage)
        crash_point(f"commit:{label}:swap")
        if not target.exists():
            os.rename(stage, target)
            fsync_dir(target.parent)
            crash_point(f"commit:{label}:swapped")
            return
        if _exchange(stage, target):  # `stage` now names the old directory
            old = stage
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            crash_point(f"commit:{label}:aside")
            os.rename(stage, target)
        fsync_dir(target.parent)
        crash_point(f"commit:{label}:swapped")
        _remove_tree(old, label)
    except BaseException:
        if old is not None and old.exists() and not target.exists():  # fallback swap interrupted: put it back
            os.rename(old, target)
        elif stage.exists() and stage != old:
            shutil.rmtree(stage, ignore_errors=True)
        raise
