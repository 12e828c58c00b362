import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(autouse=True, scope="session")
def isolated_user_folders(tmp_path_factory):
    """Keep tests out of ~/.cache: trained models and the cached digits classifier go to a
    temporary folder (tests that need their own models folder set it themselves)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EXPLORER_MODELS_DIR", str(tmp_path_factory.mktemp("user-models")))
    patch.setenv("EXPLORER_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))
    yield
    patch.undo()
