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


SXM4_80 = "NVIDIA A100-SXM4-80GB"  # what Modal's A100-80GB reports
CONV = "flex_gemm.kernels.triton.spconv.sparse_submanifold_conv_fwd_implicit_gemm.kernel"
GRID = "flex_gemm.kernels.triton.grid_sample.grid_sample_kernel"


def config(warps):
    return {"kwargs": {"B1": 64, "B2": 64, "BK": 32}, "num_warps": warps, "num_stages": 2}


def shipped_cache(path):
    """FlexGEMM's shipped file in small: two sm_80 sections, an AMD section, none for Modal's card."""
    path.write_text(json.dumps({
        "NVIDIA A100-SXM4-40GB": {CONV: {"(1, 'f16')": config(4), "(2, 'f16')": config(4)}, GRID: {}},
        "NVIDIA A100 80GB PCIe": {CONV: {"(2, 'f16')": config(8), "(3, 'f16')": config(2)}},
        "AMD Instinct MI300X VF": {CONV: {"(9, 'f16')": config(1)}},
    }))
    return path


def flex_gemm_tunes(local, device, kernel, key, warps):
    """What FlexGEMM's save_autotune_cache does after a tuning: rewrite the local file with one entry more."""
    cache = json.loads(local.read_text())
    cache.setdefault(device, {}).setdefault(kernel, {})[key] = config(warps)
    local.write_text(json.dumps(cache))


def container(tmp_path, name, commits):
    return gpu_runtime.prepare_compile_caches(
        tmp_path / "volume", {}, device=(SXM4_80, (8, 0)), container_id=name, commit=lambda: commits.append(name),
        flex_gemm_local=tmp_path / name / "autotune_cache.json", shipped=[shipped_cache(tmp_path / "shipped.json")])


def test_the_runtime_device_is_seeded_from_the_sm80_entries(tmp_path):
    environ = {}
    cache = gpu_runtime.prepare_compile_caches(
        tmp_path / "volume", environ, device=(SXM4_80, (8, 0)), container_id="ta-1",
        flex_gemm_local=tmp_path / "local.json", shipped=[shipped_cache(tmp_path / "shipped.json"), tmp_path / "absent"])
    assert environ["FLEX_GEMM_AUTOTUNE_CACHE_PATH"] == str(tmp_path / "local.json")  # FlexGEMM works on local disk
    assert environ["TRITON_CACHE_DIR"] == str(tmp_path / "volume" / "triton")
    section = json.loads((tmp_path / "local.json").read_text())[SXM4_80]
    assert section[CONV] == {"(1, 'f16')": config(4), "(2, 'f16')": config(4), "(3, 'f16')": config(2)}
    assert "(9, 'f16')" not in str(section)  # the AMD card's tuning is not borrowed
    assert cache.sync() == 0  # seeds are not news: nothing to write or commit


def test_no_seeding_for_another_architecture():
    cache = {"NVIDIA A100-SXM4-40GB": {CONV: {"k": config(4)}}}
    assert gpu_runtime.seed_device_from_sm80(cache, "NVIDIA H100 80GB HBM3", (9, 0)) == 0
    assert "NVIDIA H100 80GB HBM3" not in cache
    own = {"NVIDIA A100-SXM4-40GB": {CONV: {"k": config(4)}}, SXM4_80: {CONV: {"k": config(8)}}}
    assert gpu_runtime.seed_device_from_sm80(own, SXM4_80, (8, 0)) == 0 and own[SXM4_80][CONV]["k"] == config(8)


def test_concurrent_containers_keep_each_others_tuning(tmp_path):
    """Two containers start from the same Volume, tune different keys, and exit in either order: a third
    container starts with both, because each wrote only its own file."""
    commits = []
    first, second = container(tmp_path, "ta-first", commits), container(tmp_path, "ta-second", commits)
    flex_gemm_tunes(tmp_path / "ta-first" / "autotune_cache.json", SXM4_80, CONV, "(7, 'f16')", 2)
    flex_gemm_tunes(tmp_path / "ta-second" / "autotune_cache.json", SXM4_80, GRID, "(5,)", 4)
    assert second.sync() == 1 and first.sync() == 1 and commits == ["ta-second", "ta-first"]
    assert first.sync() == 0 and commits == ["ta-second", "ta-first"]  # nothing new: no write, no commit
    third = container(tmp_path, "ta-third", commits)
    section = json.loads((tmp_path / "ta-third" / "autotune_cache.json").read_text())[SXM4_80]
    assert section[CONV]["(7, 'f16')"] == config(2) and section[GRID]["(5,)"] == config(4)
    assert third.sync() == 0
    flex_gemm_tunes(tmp_path / "ta-first" / "autotune_cache.json", SXM4_80, CONV, "(8, 'f16')", 8)
    assert first.sync() == 1  # a later tuning adds to the container's own file
    mine = json.loads((tmp_path / "volume" / "flex_gemm" / "tuned" / "ta-first.json").read_text())[SXM4_80]
    assert {"(7, 'f16')", "(8, 'f16')"} <= set(mine[CONV])


def test_the_older_single_file_on_the_volume_is_still_read(tmp_path):
    legacy = tmp_path / "volume" / "flex_gemm" / "autotune_cache.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({SXM4_80: {GRID: {"(1,)": config(2)}}}))
    container(tmp_path, "ta-x", [])
    assert json.loads((tmp_path / "ta-x" / "autotune_cache.json").read_text())[SXM4_80][GRID] == {"(1,)": config(2)}


def test_unreadable_files_and_odd_container_ids(tmp_path):
    (tmp_path / "volume" / "flex_gemm" / "tuned").mkdir(parents=True)
    (tmp_path / "volume" / "flex_gemm" / "tuned" / "torn.json").write_text("{not json")
    assert container(tmp_path, "ta-y", []).sync() == 0
    with pytest.raises(ValueError):
        gpu_runtime.FlexGemmCache(tmp_path, tmp_path / "l.json", container_id="../escape")


def test_the_sync_thread_puts_tuning_on_the_volume_without_an_exit(tmp_path):
    import threading

    synced = threading.Event()
    stop = threading.Event()
    thread = gpu_runtime.sync_every(0.01, lambda: synced.set() or 1, stop)
    assert synced.wait(5)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_the_v1_decoder_that_trellis2_4b_borrows_is_downloaded_too():
    from trellis2_service.config import HF_MODEL_FILES, HF_MODEL_REVISIONS

    assert "microsoft/TRELLIS-image-large" in HF_MODEL_REVISIONS
    assert HF_MODEL_FILES["microsoft/TRELLIS-image-large"] == (
        "ckpts/ss_dec_conv3d_16l8_fp16.json", "ckpts/ss_dec_conv3d_16l8_fp16.safetensors")


def test_only_the_chosen_background_removal_model_is_downloaded_and_required():
    from trellis2_service.config import rembg_model_from_env

    assert rembg_model_from_env({}) == "briaai/RMBG-2.0"  # upstream's pipeline.json
    default = hf_revisions_from_env({})
    assert "briaai/RMBG-2.0" in default and "ZhengPeng7/BiRefNet" not in default
    commercial = hf_revisions_from_env({"TRELLIS2_REMBG_MODEL": "ZhengPeng7/BiRefNet",
                                        "TRELLIS2_HF_REVISIONS": f"briaai/RMBG-2.0@{'e' * 40},ZhengPeng7/BiRefNet@{'f' * 40}"})
    assert "briaai/RMBG-2.0" not in commercial and commercial["ZhengPeng7/BiRefNet"] == "f" * 40
    assert {"microsoft/TRELLIS.2-4B", "facebook/dinov3-vitl16-pretrain-lvd1689m"} <= set(commercial)
    with pytest.raises(ConfigError, match="TRELLIS2_REMBG_MODEL must be one of"):
        rembg_model_from_env({"TRELLIS2_REMBG_MODEL": "someone/matting"})


def test_download_weights_fetches_birefnet_when_it_is_chosen(tmp_path):
    calls = []
    revisions = hf_revisions_from_env({"TRELLIS2_REMBG_MODEL": "ZhengPeng7/BiRefNet"})
    gpu_runtime.download_weights(revisions, tmp_path, token="hf_x", print_line=lambda line: None,
                                 snapshot_download=lambda **kw: calls.append(kw["repo_id"]),
                                 resolve_main=lambda repo: "c" * 40)
    assert "ZhengPeng7/BiRefNet" in calls and "briaai/RMBG-2.0" not in calls
