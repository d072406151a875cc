"""The app wired for one local process: a disk store, worker threads standing in for GPU containers, the
backend in-process."""

from __future__ import annotations

from fastapi import FastAPI

from .app import create_app
from .backends.base import Backend
from .config import Settings
from .jobs import LocalRunner
from .store import Store
from .work import Worker


def build_local_app(settings: Settings, backend: Backend, *, gpu_workers: int = 1) -> FastAPI:
    store = Store(settings.store_dir, ttl_seconds=settings.state_ttl_seconds)
    store.purge_expired()  # whatever expired while the service was down
    worker = Worker(backend, store, settings)
    runner = LocalRunner(worker, workers=gpu_workers, make_worker=lambda: Worker(backend, store, settings))
    app = create_app(settings=settings, runner=runner, store=store, backend_name=backend.name)
    app.state.worker, app.state.runner = worker, runner  # for tests and debugging
    app.router.on_shutdown.append(runner.shutdown)
    return app
