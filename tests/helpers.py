"""Plain helpers shared by test modules (fixtures live in conftest.py)."""
from __future__ import annotations

import os

import pytest


def under_ci() -> bool:
    """True in CI (`.ci/run` sets CI=true): nothing a test needs may be missing there."""
    return bool(os.environ.get("CI"))


def unavailable(message: str):
    """Skip on a user's machine without a dataset or toolchain; fail under CI, where everything must run."""
    if under_ci():
        pytest.fail(f"{message} (CI is set: this test must run, not skip)", pytrace=False)
    pytest.skip(message)
