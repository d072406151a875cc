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


def plain_app(settings: Settings, backend, **options):
    """The API app without the local service's extras (faults, stats): what Modal serves, on local calls."""
    from trellis2_service.app import create_app
    from trellis2_service.job_calls import LocalCalls
    from trellis2_service.job_keys import LocalDict
    from trellis2_service.store import Store
    from trellis2_service.work import GpuContainer

    store = Store(settings.store_dir, ttl_seconds=settings.state_ttl_seconds)
    ledger_kv = LocalDict(store.root / "ledger")
    calls = LocalCalls([GpuContainer(backend, store, settings)], ledger_kv, store.root / "calls",
                       max_attempts=settings.max_job_attempts)
    app = create_app(settings=settings, calls=calls, ledger_kv=ledger_kv, store=store, **options)
    app.router.on_shutdown.append(calls.shutdown)
    return app


@pytest.fixture
def image_b64() -> str:
    return b64(png_bytes())
