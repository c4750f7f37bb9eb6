
import pytest
import torch

# Tiny CPU: one thread per test process keeps timings stable and avoids oversubscription.
torch.set_num_threads(1)


def pytest_runtest_setup(item):
    """`data` tests skip with a reason when ../shared/datasets (or $EMOEDGE_DATA) is absent, and fail under CI."""
    if "data" not in item.keywords:
        return
    from sdk.data import default_data_path
    from tests.helpers import unavailable

    if default_data_path("mosi") is None:
        unavailable("real datasets not found (set EMOEDGE_DATA or place ../shared/datasets)")


@pytest.fixture(scope="session")
def synthetic():
    from sdk.data import load_dataset

    return load_dataset("synthetic")


@pytest.fixture(scope="session")
def tiny_dist():
    """The tiny model (tests/helpers.py tiny_spec) in every format, fp32: backend -> path ("torch" -> checkpoint).
    Exported once per session (~50 s); the runtime tests run on it instead of a trained MOSI model."""
    from tests.helpers import tiny_artifacts

    return tiny_artifacts()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """The tiny model saved as a checkpoint (untrained, seed 0)."""
    from tests.helpers import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-checkpoint"))
