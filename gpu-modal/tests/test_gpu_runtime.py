"""Weights on the Volume and the compile caches, offline (fake huggingface_hub functions, temp folders)."""

import json

import pytest

from trellis2_service import gpu_runtime
from trellis2_service.config import ConfigError, hf_revisions_from_env

REPOS = {"microsoft/TRELLIS.2-4B": "a" * 40, "briaai/RMBG-2.0": None}


def fake_snapshot(hf_home, calls):
    def snapshot_download(*, repo_id, revision, cache_dir, token, allow_patterns):
        calls.append((repo_id, revision, token) if allow_patterns is None else (repo_id, revision, token, allow_patterns))
        (gpu_runtime.repo_cache_dir(hf_home, repo_id) / "snapshots" / revision).mkdir(parents=True)
        return str(hf_home)

    return snapshot_download


def test_download_pins_main_to_the_commit_and_warns_about_unpinned_models(tmp_path):
    calls, lines = [], []
    manifest = gpu_runtime.download_weights(
        REPOS, tmp_path, snapshot_download=fake_snapshot(tmp_path, calls), token="hf_x",
        resolve_main=lambda repo: "b" * 40, print_line=lines.append, clock=lambda: 5.0,
        files={"briaai/RMBG-2.0": ("model.safetensors",)})
    assert calls == [("microsoft/TRELLIS.2-4B", "a" * 40, "hf_x"),
                     ("briaai/RMBG-2.0", "b" * 40, "hf_x", ["model.safetensors"])]
    assert manifest["models"] == {"microsoft/TRELLIS.2-4B": "a" * 40, "briaai/RMBG-2.0": "b" * 40}
    assert manifest["unpinned"] == ["briaai/RMBG-2.0"]
    main_ref = gpu_runtime.repo_cache_dir(tmp_path, "briaai/RMBG-2.0") / "refs" / "main"
    assert main_ref.read_text() == "b" * 40  # offline loads of `main` get exactly this snapshot
    warning = [line for line in lines if line.startswith("WARNING")]
    assert len(warning) == 1 and "b" * 40 in warning[0] and "HF_MODEL_REVISIONS" in warning[0]
    assert json.loads((tmp_path / gpu_runtime.WEIGHTS_MANIFEST).read_text()) == manifest


def test_gpu_containers_say_which_command_fills_an_empty_volume(tmp_path):
    with pytest.raises(gpu_runtime.WeightsMissing, match="download_weights"):
        gpu_runtime.require_weights(tmp_path, REPOS)


def test_weights_are_checked_against_the_pins(tmp_path):
    gpu_runtime.download_weights(REPOS, tmp_path, snapshot_download=fake_snapshot(tmp_path, []), token=None,
                                 resolve_main=lambda repo: "b" * 40, print_line=lambda line: None)
    assert gpu_runtime.require_weights(tmp_path, REPOS)["briaai/RMBG-2.0"] == "b" * 40
    with pytest.raises(gpu_runtime.WeightsMissing, match="is pinned"):
        gpu_runtime.require_weights(tmp_path, {**REPOS, "briaai/RMBG-2.0": "c" * 40})
    with pytest.raises(gpu_runtime.WeightsMissing, match="never downloaded"):
        gpu_runtime.require_weights(tmp_path, {**REPOS, "facebook/dinov3-vitl16-pretrain-lvd1689m": None})


def test_revisions_from_the_environment():
    assert hf_revisions_from_env({})["microsoft/TRELLIS.2-4B"] is None
    pinned = hf_revisions_from_env({"TRELLIS2_HF_REVISIONS": f"briaai/RMBG-2.0@{'d' * 40}"})
    assert pinned["briaai/RMBG-2.0"] == "d" * 40
    with pytest.raises(ConfigError, match="40-hex"):
        hf_revisions_from_env({"TRELLIS2_HF_REVISIONS": "briaai/RMBG-2.0@main"})
    with pytest.raises(ConfigError, match="unknown model"):
        hf_revisions_from_env({"TRELLIS2_HF_REVISIONS": f"someone/else@{'d' * 40}"})


def test_compile_caches_live_on_the_volume_and_start_from_flexgemms_shipped_cache(tmp_path):
    shipped = tmp_path / "shipped.json"
    shipped.write_text('{"NVIDIA A100 80GB PCIe": {}}')
    environ: dict[str, str] = {}
    env = gpu_runtime.compile_cache_env(tmp_path / "cache")
    assert gpu_runtime.seed_flex_gemm_cache(env, shipped) is True
    assert gpu_runtime.seed_flex_gemm_cache(env, shipped) is False  # never overwrites what was tuned since
    gpu_runtime.prepare_compile_caches(tmp_path / "cache", environ)
    assert environ["TRITON_CACHE_DIR"].startswith(str(tmp_path / "cache"))
    assert (tmp_path / "cache" / "flex_gemm" / "autotune_cache.json").read_text() == shipped.read_text()


def test_the_v1_decoder_that_trellis2_4b_borrows_is_downloaded_too():
    from trellis2_service.config import HF_MODEL_FILES, HF_MODEL_REVISIONS

    assert "microsoft/TRELLIS-image-large" in HF_MODEL_REVISIONS
    assert HF_MODEL_FILES["microsoft/TRELLIS-image-large"] == (
        "ckpts/ss_dec_conv3d_16l8_fp16.json", "ckpts/ss_dec_conv3d_16l8_fp16.safetensors")
