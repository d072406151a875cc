from pathlib import Path

import pytest

from trellis2_service.config import (
    DEFAULT_LOCAL_STORE_DIR,
    ConfigError,
    Settings,
    gpu_from_env,
    max_containers_from_env,
)

FULL_ENV = {"TRELLIS2_MODAL_KEY": "wk-abc", "TRELLIS2_MODAL_SECRET": "ws-def"}


def test_defaults_match_the_contract():
    settings = Settings.from_env(FULL_ENV)
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.max_state_bytes == 512 * 1024 * 1024
    assert settings.state_ttl_seconds == 24 * 3600
    assert settings.gpu == "A100-80GB" and settings.max_containers == 4
    assert settings.store_dir == DEFAULT_LOCAL_STORE_DIR
    assert settings.state_secret_is_ephemeral and len(settings.state_secret) >= 32


def test_values_are_read_from_env(tmp_path):
    env = {**FULL_ENV, "TRELLIS2_STATE_SECRET": "s" * 20, "TRELLIS2_STORE_DIR": str(tmp_path),
           "TRELLIS2_STATE_TTL_SECONDS": "3600", "TRELLIS2_MAX_BODY_BYTES": "2_000_000",
           "TRELLIS2_MAX_STATE_BYTES": "9999999", "TRELLIS2_GPU": "H100", "TRELLIS2_MAX_CONTAINERS": "2"}
    settings = Settings.from_env(env)
    assert settings.state_secret == b"s" * 20 and not settings.state_secret_is_ephemeral
    assert settings.store_dir == Path(tmp_path)
    assert (settings.state_ttl_seconds, settings.max_body_bytes, settings.max_state_bytes) == (3600, 2_000_000, 9999999)
    assert (settings.gpu, settings.max_containers) == ("H100", 2)


def test_overrides_win_over_env(tmp_path):
    settings = Settings.from_env({**FULL_ENV, "TRELLIS2_STORE_DIR": "/elsewhere"}, store_dir=tmp_path)
    assert settings.store_dir == tmp_path


@pytest.mark.parametrize("env, fragment", [
    ({}, "TRELLIS2_MODAL_KEY and TRELLIS2_MODAL_SECRET"),
    ({"TRELLIS2_MODAL_KEY": "wk-only"}, "TRELLIS2_MODAL_SECRET"),
    ({**FULL_ENV, "TRELLIS2_MAX_BODY_BYTES": "lots"}, "TRELLIS2_MAX_BODY_BYTES must be a whole number"),
    ({**FULL_ENV, "TRELLIS2_STATE_TTL_SECONDS": "5"}, "TRELLIS2_STATE_TTL_SECONDS must be at least 60"),
    ({**FULL_ENV, "TRELLIS2_MAX_CONTAINERS": "0"}, "TRELLIS2_MAX_CONTAINERS must be at least 1"),
    ({**FULL_ENV, "TRELLIS2_STATE_SECRET": "short"}, "TRELLIS2_STATE_SECRET must be at least 16"),
    ({**FULL_ENV, "TRELLIS2_GPU": "A100 80GB; rm -rf"}, "TRELLIS2_GPU"),
    ({**FULL_ENV, "TRELLIS2_BACKEND": "cuda"}, "backend must be one of"),
])
def test_bad_settings_are_refused_with_the_variable_named(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env(env)


def test_auth_modes():
    assert Settings.from_env({}, auth_mode="none").auth_mode == "none"
    assert Settings.from_env({}, auth_mode="proxy").modal_key is None
    with pytest.raises(ConfigError):
        Settings(auth_mode="open")  # type: ignore[arg-type]


def test_modal_requires_a_shared_state_secret():
    with pytest.raises(ConfigError, match="TRELLIS2_STATE_SECRET is not set"):
        Settings.from_env({}, auth_mode="proxy", require_state_secret=True)


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({**FULL_ENV, "TRELLIS2_STATE_SECRET": "x" * 20})
    assert "ws-def" not in repr(settings) and "xxxx" not in repr(settings)


def test_deploy_time_readers():
    assert gpu_from_env({}) == "A100-80GB" and gpu_from_env({"TRELLIS2_GPU": "H100:2"}) == "H100:2"
    assert max_containers_from_env({}) == 4 and max_containers_from_env({"TRELLIS2_MAX_CONTAINERS": "7"}) == 7
    with pytest.raises(ConfigError):
        max_containers_from_env({"TRELLIS2_MAX_CONTAINERS": "-1"})


def test_gpu_worker_settings_from_env():
    from trellis2_service.config import (gpu_cpu_cores_from_env, gpu_memory_mib_from_env, low_vram_from_env,
                                         preview_resolution_from_env)

    assert low_vram_from_env({}) is False and low_vram_from_env({"TRELLIS2_LOW_VRAM": "1"}) is True
    assert preview_resolution_from_env({}) == 512 and preview_resolution_from_env({"TRELLIS2_PREVIEW_RESOLUTION": "1024"}) == 1024
    assert gpu_cpu_cores_from_env({}) == 4.0 and gpu_memory_mib_from_env({}) == 24 * 1024
    for call, env, name in (
        (low_vram_from_env, {"TRELLIS2_LOW_VRAM": "maybe"}, "TRELLIS2_LOW_VRAM"),
        (preview_resolution_from_env, {"TRELLIS2_PREVIEW_RESOLUTION": "500"}, "TRELLIS2_PREVIEW_RESOLUTION"),
        (gpu_cpu_cores_from_env, {"TRELLIS2_GPU_CPU": "0"}, "TRELLIS2_GPU_CPU"),
        (gpu_memory_mib_from_env, {"TRELLIS2_GPU_MEMORY_MIB": "100"}, "TRELLIS2_GPU_MEMORY_MIB"),
    ):
        with pytest.raises(ConfigError, match=name):
            call(env)
