
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
