import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network here; hub access must fail fast
ARTIFACTS = ROOT / "tests" / "artifacts"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of a minute or more")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
