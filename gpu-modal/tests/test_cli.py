import subprocess
import sys
from pathlib import Path

import pytest

from trellis2_service.__main__ import main, parse_args

GPU_MODAL = Path(__file__).resolve().parent.parent


def test_defaults():
    args = parse_args([])
    assert (args.port, args.host, args.backend, args.no_auth) == (8787, "127.0.0.1", "relief", False)


def test_bad_arguments_are_refused():
    for argv in (["--backend", "cuda"], ["--latency-profile", "-1"], ["--port", "0"]):
        with pytest.raises(SystemExit):
            parse_args(argv)


def test_refuses_to_start_without_credentials(monkeypatch, capsys):
    monkeypatch.delenv("TRELLIS2_MODAL_KEY", raising=False)
    monkeypatch.delenv("TRELLIS2_MODAL_SECRET", raising=False)
    assert main(["--port", "8799"]) == 2
    assert "TRELLIS2_MODAL_KEY and TRELLIS2_MODAL_SECRET" in capsys.readouterr().err


def test_module_entry_point_refuses_the_same_way(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "trellis2_service", "--port", "8799"], cwd=GPU_MODAL, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--no-auth" in done.stderr


def test_gpu_workers_sets_how_many_jobs_run_at_once(settings, backend):
    from trellis2_service.__main__ import parse_args
    from trellis2_service.local import build_local_app

    assert parse_args([]).gpu_workers == 1
    assert parse_args(["--gpu-workers", "4"]).gpu_workers == 4
    with pytest.raises(SystemExit):
        parse_args(["--gpu-workers", "0"])
    app = build_local_app(settings, backend, gpu_workers=3)
    containers = {app.state.calls._idle.get() for _ in range(3)}
    assert len(containers) == 3 and app.state.worker in containers
