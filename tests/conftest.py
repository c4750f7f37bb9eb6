
import pytest
import torch

# Tiny CPU: one thread per test process keeps timings stable and avoids oversubscription.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Skip `data` tests with a reason when ../shared/datasets (or $EMOEDGE_DATA) is absent."""
    from sdk.data import default_data_path

    missing = default_data_path("mosi") is None
    for item in items:
        if "data" in item.keywords and missing:
            item.add_marker(pytest.mark.skip(reason="real datasets not found (set EMOEDGE_DATA)"))


@pytest.fixture(scope="session")
def synthetic():
    from sdk.data import load_dataset

    return load_dataset("synthetic")
