from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the package, without installing it
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_backend import FakeBackend  # noqa: E402
from trellis2_service.config import Settings  # noqa: E402
from trellis2_service.local import build_local_app  # noqa: E402

KEY, SECRET = "wk-test-key-0123456789", "ws-test-secret-0123456789"
AUTH = {"Modal-Key": KEY, "Modal-Secret": SECRET}
STATE_SECRET = b"state-secret-for-tests-0123456789"


def png_bytes(size=(32, 24), mode="RGBA", fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, size, (200, 100, 50, 255)[: len(mode)])
    # a darker block in the middle: the service refuses one-colour images (images.refuse_blank)
    width, height = size
    image.paste((120, 60, 30, 255)[: len(mode)], (width // 4, height // 4, max(width // 4 + 1, 3 * width // 4),
                                                  max(height // 4 + 1, 3 * height // 4)))
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(auth_mode="local", modal_key=KEY, modal_secret=SECRET, state_secret=STATE_SECRET,
                    state_secret_is_ephemeral=False, store_dir=tmp_path / "store")


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(settings, backend):
    with TestClient(build_local_app(settings, backend), raise_server_exceptions=False) as test_client:
        test_client.headers.update(AUTH)
        yield test_client


@pytest.fixture
def image_b64() -> str:
    return b64(png_bytes())
