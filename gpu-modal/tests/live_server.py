"""The local app on a real uvicorn server on a free loopback port, in a thread: for what only real HTTP
shows (connection resets, a 413 after a 15 MiB upload, held requests)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from trellis2_service.local import uvicorn_config


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", 0))  # port 0: the OS picks a free one
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
