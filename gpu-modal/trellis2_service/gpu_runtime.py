"""What a GPU container needs before the model loads, as plain functions (tested offline):

- weights: `download_weights` (a CPU Modal function) fills the HF cache Volume at pinned revisions and
  writes a manifest; GPU containers run with HF_HUB_OFFLINE=1 and only check that manifest
  (`require_weights`), so a container never downloads 15+ GB inside its start-up;
- compile caches: FlexGEMM's Triton autotune results, Triton's kernel cache and torch extensions live on
  a Volume (`compile_cache_env`, `seed_flex_gemm_cache`), so a new container does not redo that work.

Offline loading of a pinned revision: transformers and TRELLIS.2 ask the cache for `main`. After
downloading commit C, `refs/main` in the cache is pointed at C, so `main` means C on this Volume.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("trellis2.gpu_runtime")

WEIGHTS_MANIFEST = "trellis2-weights.json"
DOWNLOAD_COMMAND = "modal run -m trellis2_service.modal_app::download_weights"
FLEX_GEMM_SHIPPED_CACHE = Path("~/.flex_gemm/autotune_cache.json").expanduser()  # FlexGEMM's setup.py puts it here


class WeightsMissing(RuntimeError):
    """The HF cache Volume lacks (some of) the weights; the message says which command fills it."""


def repo_cache_dir(hf_home: Path, repo_id: str) -> Path:
    """huggingface_hub's cache layout: <HF_HOME>/hub/models--<org>--<name>."""
    return Path(hf_home) / "hub" / ("models--" + repo_id.replace("/", "--"))


def pin_main_ref(hf_home: Path, repo_id: str, commit: str) -> None:
    """Make `main` resolve to `commit` in the offline cache (what from_pretrained(repo) asks for)."""
    refs = repo_cache_dir(hf_home, repo_id) / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(commit)


def download_weights(
    revisions: Mapping[str, str | None],
    hf_home: Path,
    *,
    snapshot_download: Callable[..., str],
    resolve_main: Callable[[str], str],
    token: str | None,
    files: Mapping[str, Sequence[str]] | None = None,
    print_line: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Download each model at its pinned commit (resolving `main` once where none is pinned), point the
    cache's `main` at it, and write the manifest GPU containers check. `files` limits a repository to
    the files named (allow patterns). Returns the manifest."""
    files = files or {}
    models: dict[str, str] = {}
    unpinned = []
    for repo_id, pinned in revisions.items():
        commit = pinned or resolve_main(repo_id)
        if not pinned:
            unpinned.append((repo_id, commit))
        print_line(f"downloading {repo_id} at {commit} ...")
        patterns = list(files[repo_id]) if repo_id in files else None
        snapshot_download(repo_id=repo_id, revision=commit, cache_dir=str(Path(hf_home) / "hub"), token=token,
                          allow_patterns=patterns)
        pin_main_ref(hf_home, repo_id, commit)
        models[repo_id] = commit
    manifest = {"models": models, "downloaded_at": clock(), "unpinned": [repo for repo, _ in unpinned]}
    (Path(hf_home) / WEIGHTS_MANIFEST).write_text(json.dumps(manifest, indent=2))
    for repo_id, commit in unpinned:
        print_line(f"WARNING: {repo_id} has no pinned revision; downloaded `main` = {commit}. Pin it: "
                   f"HF_MODEL_REVISIONS[{repo_id!r}] = {commit!r} in trellis2_service/config.py "
                   f"(or TRELLIS2_HF_REVISIONS={repo_id}@{commit}), so every later download gets the same weights.")
    return manifest


def require_weights(hf_home: Path, revisions: Mapping[str, str | None]) -> dict[str, str]:
    """The models and commits on the Volume; WeightsMissing (naming the command to run) if any is absent,
    or if a pinned revision differs from what was downloaded."""
    manifest_path = Path(hf_home) / WEIGHTS_MANIFEST
    try:
        models = dict(json.loads(manifest_path.read_text())["models"])
    except (OSError, ValueError, KeyError, TypeError):
        raise WeightsMissing(f"the HF cache Volume has no weights yet ({manifest_path} is missing or unreadable): "
                             f"run `{DOWNLOAD_COMMAND}` once, then deploy again") from None
    problems = []
    for repo_id, pinned in revisions.items():
        commit = models.get(repo_id)
        if commit is None:
            problems.append(f"{repo_id} was never downloaded")
        elif pinned and commit != pinned:
            problems.append(f"{repo_id} is at {commit} on the Volume, but {pinned} is pinned")
        elif not (repo_cache_dir(hf_home, repo_id) / "snapshots" / commit).is_dir():
            problems.append(f"{repo_id} snapshot {commit} is missing from the cache")
    if problems:
        raise WeightsMissing("; ".join(problems) + f": run `{DOWNLOAD_COMMAND}`")
    return models


def compile_cache_env(cache_root: Path) -> dict[str, str]:
    """Where FlexGEMM, Triton and torch keep what they compile or tune, on the compile-cache Volume."""
    root = Path(cache_root)
    return {
        "FLEX_GEMM_AUTOTUNE_CACHE_PATH": str(root / "flex_gemm" / "autotune_cache.json"),
        "TRITON_CACHE_DIR": str(root / "triton"),
        "TORCH_EXTENSIONS_DIR": str(root / "torch_extensions"),
    }


def seed_flex_gemm_cache(env: Mapping[str, str], shipped: Path = FLEX_GEMM_SHIPPED_CACHE) -> bool:
    """Start the Volume's autotune cache from the one FlexGEMM ships (a few device names only; Modal's
    A100-SXM4-80GB is not among them at the pinned commit, so the first container tunes and saves)."""
    target = Path(env["FLEX_GEMM_AUTOTUNE_CACHE_PATH"])
    for key in ("TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or not shipped.is_file():
        return False
    shutil.copyfile(shipped, target)
    return True


def prepare_compile_caches(cache_root: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the cache variables (before flex_gemm/triton are imported) and seed the autotune cache."""
    environ = os.environ if environ is None else environ
    env = compile_cache_env(cache_root)
    environ.update(env)
    if seed_flex_gemm_cache(env):
        log.info("seeded %s from FlexGEMM's shipped cache", env["FLEX_GEMM_AUTOTUNE_CACHE_PATH"])
    return env
