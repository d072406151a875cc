"""The Modal wiring, checked offline: import the module (no token, no network) and inspect what it declares.

Nothing here calls `.local()`/`.remote()` or hydrates anything, so no model loads and no GPU is asked for.
"""

import importlib
import types
import sys

import modal
import pytest

RECORDED: dict[str, dict] = {}


@pytest.fixture(scope="module")
def modal_app(tmp_path_factory):
    patcher = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "TRELLIS2_GPU", "TRELLIS2_MAX_CONTAINERS"):
        patcher.delenv(name, raising=False)
    patcher.setenv("HOME", str(home))
    patcher.setenv("MODAL_CONFIG_PATH", str(home / "no-modal.toml"))
    original_cls, original_function = modal.App.cls, modal.App.function

    def recording_cls(self, **kwargs):
        decorate = original_cls(self, **kwargs)

        def wrapper(user_cls):
            RECORDED[user_cls.__name__] = kwargs
            return decorate(user_cls)

        return wrapper

    def recording_function(self, **kwargs):
        decorate = original_function(self, **kwargs)

        def wrapper(f):
            raw = f._get_raw_f() if hasattr(f, "_get_raw_f") else f  # a web endpoint is a PartialFunction
            RECORDED[raw.__name__] = kwargs
            return decorate(f)

        return wrapper

    for method in ("pip_install", "pip_install_from_requirements", "uv_pip_install", "run_commands"):
        patcher.setattr(modal.Image, method, _recording_image_method(method, getattr(modal.Image, method)))
    patcher.setattr(modal.App, "cls", recording_cls)
    patcher.setattr(modal.App, "function", recording_function)
    sys.modules.pop("trellis2_service.modal_app", None)
    try:
        yield importlib.import_module("trellis2_service.modal_app")
    finally:
        patcher.undo()
        sys.modules.pop("trellis2_service.modal_app", None)


IMAGE_STEPS: list[tuple[str, tuple, dict]] = []


def _recording_image_method(name, original):
    def record(self, *args, **kwargs):
        IMAGE_STEPS.append((name, args, kwargs))
        return original(self, *args, **kwargs)

    return record


def _service_function(module):
    return module.Trellis2Worker._get_class_service_function()


def test_app_name_and_members(modal_app):
    assert modal_app.app.name == "trellis2"
    assert set(RECORDED) >= {"Trellis2Worker", "api", "generate_endpoint", "extract_glb_endpoint",
                             "warmup_endpoint", "health", "purge_expired", "verify", "download_weights"}


def test_gpu_class_configuration(modal_app):
    options = RECORDED["Trellis2Worker"]
    assert options["gpu"] == "A100-80GB"
    assert options["timeout"] == 600 and options["scaledown_window"] == 300 and options["max_containers"] == 4
    assert options["retries"] == 0  # a timed-out input must not hold an A100 again; jobs count attempts
    assert set(options["volumes"]) == {"/cache/huggingface", "/cache/compile", "/store"}
    info = _service_function(modal_app).info()
    assert info.gpus == [("A100-80GB", 1)] and info.timeout == 600 and info.max_retries == 0
    assert info.cpu == 4.0 and info.memory_mib == 24 * 1024  # reserved for UV unwrap, inpainting, encoding
    assert set(info.method_names) == {"generate", "extract", "warmup", "run_job"}
    assert not any("'huggingface'" in secret for secret in info.secrets)  # offline: weights from the Volume
    assert any("'trellis2-state-signing'" in secret for secret in info.secrets)


def test_gpu_image_environment(modal_app):
    # The env of the GPU image is declared as a dict in modal_app; read it back from the module's constants.
    assert modal_app.LOW_VRAM is False and modal_app.PREVIEW_RESOLUTION == 512
    source = open(modal_app.__file__).read()
    for variable in ("HF_HUB_OFFLINE", "OPENCV_IO_ENABLE_OPENEXR", "TRELLIS2_LOW_VRAM", "TRELLIS2_PREVIEW_RESOLUTION"):
        assert f'"{variable}"' in source, variable
    from trellis2_service.gpu_runtime import compile_cache_env

    assert set(compile_cache_env(modal_app.Path("/cache/compile"))) == {
        "FLEX_GEMM_AUTOTUNE_CACHE_PATH", "TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR"}


def test_weights_are_downloaded_by_a_cpu_function(modal_app):
    info = modal_app.download_weights.info()
    assert info.gpus == [] and list(info.volumes) == ["/cache/huggingface"]
    assert any("'huggingface'" in secret for secret in info.secrets)


def test_gpu_containers_never_purge(modal_app, tmp_path):
    from trellis2_service.config import Settings

    settings = Settings(auth_mode="none", store_dir=tmp_path / "store", state_ttl_seconds=60)
    clock = [1000.0]
    gpu_store = modal_app._volume_store(settings, purge_on_write=False)
    gpu_store._clock = lambda: clock[0]
    gpu_store._commit_hook = gpu_store._reload_hook = None  # offline: no Volume behind it
    old_id, _ = gpu_store.put_state(b"old", None)
    clock[0] += 10_000  # far past the TTL and the purge interval
    gpu_store.put_state(b"new", None)
    assert (tmp_path / "store" / "states" / old_id).is_dir()  # a GPU container left it for the CPU purge
    api_store = modal_app._volume_store(settings)
    api_store._clock = lambda: clock[0]
    api_store._commit_hook = api_store._reload_hook = None
    api_store.put_state(b"newer", None)
    assert not (tmp_path / "store" / "states" / old_id).exists()


def test_api_is_cpu_only_behind_proxy_auth(modal_app):
    for name in ("api", "generate_endpoint", "extract_glb_endpoint", "warmup_endpoint"):
        function = getattr(modal_app, name)
        info = function.info()
        assert info.gpus == [], name
        assert info.web_info is not None and info.web_info.unauthenticated is False, name
        assert "gpu" not in RECORDED[name] or RECORDED[name]["gpu"] is None
        assert info.concurrency_info.max_inputs >= 8
        assert list(info.volumes) == ["/store"]


def test_health_is_open_and_cpu_only(modal_app):
    info = modal_app.health.info()
    assert info.gpus == [] and info.web_info.unauthenticated is True and info.web_info.method == "GET"
    assert info.volumes == {}


def test_cleanup_runs_hourly_on_the_store_volume(modal_app):
    info = modal_app.purge_expired.info()
    assert info.schedule is not None and "hours=1" in info.schedule
    assert info.gpus == [] and list(info.volumes) == ["/store"]


def test_verify_runs_on_the_gpu_image(modal_app):
    info = modal_app.verify.info()
    assert info.gpus == [("A100-80GB", 1)]
    assert set(info.volumes) == {"/cache/huggingface", "/cache/compile", "/store"}  # /store: the Volume round trip
    assert any("'huggingface'" in secret for secret in info.secrets)  # the gated-model access check
    assert not any("trellis2-verify-proxy" in secret for secret in info.secrets)  # optional: looked up at run time
    api_check = modal_app.verify_deployed_api.info()
    assert api_check.gpus == [] and RECORDED["verify_deployed_api"]["image"] is modal_app.api_image


def test_seed_style_labels(modal_app):
    assert modal_app.SEED_STYLE_LABELS == {"/generate": "trellis2-generate", "/extract_glb": "trellis2-extract-glb",
                                           "/warmup": "trellis2-warmup"}
    assert modal_app.HEALTH_LABEL == "trellis2-health"


def test_gpu_and_container_count_come_from_env_at_deploy_time(monkeypatch):
    from trellis2_service.config import gpu_from_env, max_containers_from_env

    monkeypatch.setenv("TRELLIS2_GPU", "H100")
    monkeypatch.setenv("TRELLIS2_MAX_CONTAINERS", "2")
    assert gpu_from_env() == "H100" and max_containers_from_env() == 2


def test_route_root_to_serves_the_seed_style_host(client, image_b64):
    from fastapi.testclient import TestClient

    from conftest import AUTH
    from trellis2_service.seed_api import route_root_to

    with TestClient(route_root_to(client.app, "/generate")) as seed_host:
        response = seed_host.post("/", json={"image": image_b64}, headers=AUTH)
        assert response.status_code == 200 and response.json()["state"]
        assert seed_host.get("/health").json()["status"] == "ok"  # other paths are untouched


def test_the_modal_warmup_answers_from_the_dict_and_spawns_once(modal_app, monkeypatch):
    spawned = []

    class FakeWorker:
        class warmup:  # noqa: N801  (stands for the Modal method handle)
            @staticmethod
            def spawn(submitted_at):
                spawned.append(submitted_at)

    monkeypatch.setattr(modal_app, "warm_dict", {})
    monkeypatch.setattr(modal_app, "Trellis2Worker", FakeWorker)
    first, second = modal_app._warm_check(), modal_app._warm_check()
    assert (first["warm"], first["started"], second["started"], len(spawned)) == (False, True, False, 1)
    assert first["device"] == "A100-80GB" and first["backend"] == "trellis2" and first["cold_start"] is False
    modal_app._warm_signal().mark_active("ta-1")
    assert modal_app._warm_check()["warm"] is True and len(spawned) == 1


def _shipped_files(image) -> dict[str, str]:
    """remote path -> local path of what an image's add_local_* layers put in the container, through modal's
    own mount entries and their file matching (the ignore callable each entry holds), on the real files."""
    from modal._utils.async_utils import synchronizer
    from modal.mount import _Mount

    shipped = {}
    for dependency in synchronizer._translate_in(image)._deps():
        if isinstance(dependency, _Mount):
            for entry in dependency._entries:
                shipped.update({str(remote): str(local) for local, remote in entry.get_files_to_upload()})
    return shipped


def test_verify_and_every_service_image_ship_the_assets(modal_app):
    """add_local_python_source ships only .py files unless told otherwise: verify's photo must be in the image
    verify runs on (the GPU image), and the package's assets in the API and weights images too."""
    from trellis2_service import gpu_checks

    photo = f"/root/trellis2_service/assets/{gpu_checks.VERIFY_IMAGE.name}"
    assert gpu_checks.VERIFY_IMAGE.suffix == ".jpg"
    for name in ("gpu_image", "api_image", "weights_image"):
        shipped = _shipped_files(getattr(modal_app, name))
        assert photo in shipped, (name, sorted(shipped)[:5])
        assert "/root/trellis2_service/gpu_checks.py" in shipped and "/root/trellis2_service/backends/trellis2.py" in shipped
        assert not any("__pycache__" in path or path.endswith(".pyc") for path in shipped), name
    assert RECORDED["verify"]["image"] is modal_app.gpu_image


def test_modals_default_would_leave_the_photo_out(modal_app):
    """The check above can fail: the same matching with modal's default ignore drops the photo."""
    default = modal.Image.debian_slim().add_local_python_source("trellis2_service")
    shipped = _shipped_files(default)
    assert "/root/trellis2_service/gpu_checks.py" in shipped
    assert not any(path.startswith("/root/trellis2_service/assets/") for path in shipped)


def test_the_background_removal_choice_reaches_the_containers(monkeypatch):
    monkeypatch.setenv("TRELLIS2_REMBG_MODEL", "ZhengPeng7/BiRefNet")
    sys.modules.pop("trellis2_service.modal_app", None)
    try:
        module = importlib.import_module("trellis2_service.modal_app")
        assert module.REMBG_MODEL == "ZhengPeng7/BiRefNet"
    finally:
        sys.modules.pop("trellis2_service.modal_app", None)


def test_a_stopping_worker_puts_its_flex_gemm_tuning_on_the_volume(modal_app, monkeypatch):
    """shut_down syncs FlexGEMM's cache (its own file, committed) and commits the compile caches; a container
    whose start failed before preparing the cache still shuts down cleanly."""
    import threading

    events = []
    monkeypatch.setattr(modal_app.compile_cache_volume, "commit", lambda: events.append("commit compile cache"))
    shut_down = modal_app.Trellis2Worker._get_user_cls().shut_down._get_raw_f()
    worker = types.SimpleNamespace(flex_gemm_cache=types.SimpleNamespace(sync=lambda: events.append("sync") or 2),
                                   _stop_cache_sync=threading.Event(), _clear_warm_marker=lambda: events.append("warm"))
    shut_down(worker)
    assert events == ["warm", "sync", "commit compile cache"] and worker._stop_cache_sync.is_set()
    events.clear()
    shut_down(types.SimpleNamespace(_clear_warm_marker=lambda: events.append("warm")))
    assert events == ["warm", "commit compile cache"]
