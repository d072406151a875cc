"""What a GPU container needs before the model loads, as plain functions (tested offline):

- weights: `download_weights` (a CPU Modal function) fills the HF cache Volume at pinned revisions and
  writes a manifest; GPU containers run with HF_HUB_OFFLINE=1 and only check that manifest
  (`require_weights`), so a container never downloads 15+ GB inside its start-up;
- compile caches: Triton's kernel cache and torch extensions live on a Volume (`compile_cache_env`);
  FlexGEMM's autotune results are merged to and from it by `FlexGemmCache` (seeded for the runtime device
  name from the sm_80 entries FlexGEMM ships), so a new container does not redo that work.

Offline loading of a pinned revision: transformers and TRELLIS.2 ask the cache for `main`. After
downloading commit C, `refs/main` in the cache is pointed at C, so `main` means C on this Volume.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .gpu_image import EXT_DIR

log = logging.getLogger("trellis2.gpu_runtime")

WEIGHTS_MANIFEST = "trellis2-weights.json"
DOWNLOAD_COMMAND = "modal run -m trellis2_service.modal_app::download_weights"
FLEX_GEMM_SHIPPED_CACHE = Path("~/.flex_gemm/autotune_cache.json").expanduser()  # FlexGEMM's setup.py puts it here
# the same file in the checkout (gpu_image.SOURCES): read too, in case setup.py's copy is absent
FLEX_GEMM_SHIPPED_CACHES = (FLEX_GEMM_SHIPPED_CACHE, Path(EXT_DIR) / "FlexGEMM" / "autotune_cache.json")
FLEX_GEMM_LOCAL_CACHE = Path("/tmp/trellis2-flex-gemm/autotune_cache.json")  # container disk: FlexGEMM's own lock works


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


def compile_cache_env(cache_root: Path, flex_gemm_local: Path = FLEX_GEMM_LOCAL_CACHE) -> dict[str, str]:
    """Where FlexGEMM, Triton and torch keep what they compile or tune. Triton and torch extensions write
    straight to the compile-cache Volume (their files are content-addressed: two containers writing the same
    file write the same bytes). FlexGEMM's autotune cache is one JSON file that it rewrites whole and guards
    with a file lock, neither of which holds on a last-writer-wins Volume, so FlexGEMM works on a file on the
    container's own disk, and FlexGemmCache merges it with the Volume explicitly."""
    root = Path(cache_root)
    return {
        "FLEX_GEMM_AUTOTUNE_CACHE_PATH": str(flex_gemm_local),
        "TRITON_CACHE_DIR": str(root / "triton"),
        "TORCH_EXTENSIONS_DIR": str(root / "torch_extensions"),
    }


# --- FlexGEMM's autotune cache -------------------------------------------------------------------------------
# Its format (flex_gemm/utils/autotuner.py at the pinned commit): {device name: {"module.kernel": {argument key:
# best config}}}. FlexGEMM loads the section of torch.cuda.get_device_name() at import (else a "*" section),
# tunes every argument key it lacks (seconds each, on the GPU), and after each tuning rewrites the file
# with its in-memory section replacing the file's (save_autotune_cache: cache.update(...)).
# The cache it ships names 'NVIDIA A100-SXM4-40GB' and 'NVIDIA A100 80GB PCIe' (and an AMD card); Modal's
# A100-80GB reports 'NVIDIA A100-SXM4-80GB', found in neither, so every new container tuned from scratch.
SM80_DEVICE_NAMES = ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 80GB PCIe")  # the shipped sections tuned on sm_80
SM80 = (8, 0)
AutotuneCache = dict[str, dict[str, dict[str, Any]]]


def merge_autotune_caches(*caches: Mapping[str, Any]) -> AutotuneCache:
    """Entry-wise union (device, kernel, argument key); for the same entry the later cache wins."""
    merged: AutotuneCache = {}
    for cache in caches:
        for device, kernels in cache.items():
            if not isinstance(kernels, Mapping):
                continue
            for kernel, entries in kernels.items():
                if isinstance(entries, Mapping):
                    merged.setdefault(device, {}).setdefault(kernel, {}).update(entries)
    return merged


def count_entries(section: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(entries) for entries in section.values())


def seed_device_from_sm80(cache: AutotuneCache, device_name: str, capability: tuple[int, int]) -> int:
    """Fill the runtime device's section with the sm_80 sections' entries it lacks (its own entries win).
    Only for an sm_80 device: a tuned config is a property of the architecture, not of the card's name.
    Returns the number of entries added."""
    if tuple(capability) != SM80:
        return 0
    section = cache.setdefault(device_name, {})
    added = 0
    for source in SM80_DEVICE_NAMES:
        if source == device_name:
            continue
        for kernel, entries in cache.get(source, {}).items():
            own = section.setdefault(kernel, {})
            for key, config in entries.items():
                if key not in own:
                    own[key] = config
                    added += 1
    return added


def _read_cache(path: Path) -> AutotuneCache:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class FlexGemmCache:
    """FlexGEMM's autotune cache kept on the compile-cache Volume without losing any container's tuning.

    Each container writes only its own file, `<volume_dir>/tuned/<container id>.json`, holding its device's
    section; at start a container merges FlexGEMM's shipped cache, the Volume's older single file, and every
    container's file, seeds its device name from the sm_80 sections, and hands FlexGEMM the result on local
    disk. Concurrent exits cannot overwrite each other (different files), and a file is committed as soon
    as its container has tuned something new (`sync`), not only at exit."""

    def __init__(self, volume_dir: Path, local_path: Path, *, container_id: str,
                 commit: Callable[[], None] = lambda: None) -> None:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise ValueError(f"not a usable container id for a file name: {container_id!r}")
        self.volume_dir, self.local_path = Path(volume_dir), Path(local_path)
        self.own_file = self.volume_dir / "tuned" / f"{container_id}.json"
        self.commit = commit
        self.device_name: str | None = None
        self._known: set[tuple[str, str]] = set()  # (kernel, key) of the device section as started or last synced

    def prepare(self, device_name: str, capability: tuple[int, int],
                shipped: Sequence[Path] = (FLEX_GEMM_SHIPPED_CACHE,)) -> dict[str, int]:
        """Write FlexGEMM's starting cache (call before flex_gemm is imported). Returns what it holds."""
        self.device_name = device_name
        sources = [_read_cache(path) for path in shipped]
        sources.append(_read_cache(self.volume_dir / "autotune_cache.json"))  # written by earlier deploys
        tuned_dir = self.volume_dir / "tuned"
        tuned_files = sorted(tuned_dir.glob("*.json")) if tuned_dir.is_dir() else []
        sources.extend(_read_cache(path) for path in tuned_files)
        cache = merge_autotune_caches(*sources)
        from_volume = count_entries(cache.get(device_name, {}))
        seeded = seed_device_from_sm80(cache, device_name, capability)
        self.local_path.parent.mkdir(parents=True, exist_ok=True)
        _write_json_atomically(self.local_path, cache)
        self._known = self._keys(cache.get(device_name, {}))
        return {"entries": len(self._known), "from_volume_and_shipped": from_volume, "seeded_from_sm80": seeded,
                "container_files": len(tuned_files)}

    def sync(self) -> int:
        """Put what this container tuned since the last sync on the Volume (its own file) and commit. Cheap
        when nothing is new (one read of the local file); returns the number of new entries."""
        if self.device_name is None:
            return 0
        section = _read_cache(self.local_path).get(self.device_name, {})
        keys = self._keys(section)
        new = keys - self._known
        if not new:
            return 0
        self.own_file.parent.mkdir(parents=True, exist_ok=True)
        mine = merge_autotune_caches(_read_cache(self.own_file), {self.device_name: section})
        _write_json_atomically(self.own_file, mine)
        self.commit()
        self._known |= new
        return len(new)

    @staticmethod
    def _keys(section: Mapping[str, Mapping[str, Any]]) -> set[tuple[str, str]]:
        return {(kernel, key) for kernel, entries in section.items() for key in entries}


def sync_every(seconds: float, sync: Callable[[], int], stop: "threading.Event") -> "threading.Thread":
    """A daemon thread calling `sync` every `seconds` until `stop` is set: tuning happens inside GPU calls,
    and this puts it on the Volume soon after, on the CPU, without waiting for the container's exit (which
    a crash or a timeout never reaches)."""
    import threading

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                synced = sync()
                if synced:
                    log.info("FlexGEMM: %d new autotune entries committed to the Volume", synced)
            except Exception as exc:  # a failed sync is retried at the next tick and at exit
                log.warning("FlexGEMM autotune sync failed: %s", exc)

    thread = threading.Thread(target=loop, name="flex-gemm-sync", daemon=True)
    thread.start()
    return thread


def _write_json_atomically(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)  # same directory: a rename within one folder, never a half-written file


def prepare_compile_caches(cache_root: Path, environ: dict[str, str] | None = None, *,
                           device: tuple[str, tuple[int, int]] | None = None, container_id: str = "local",
                           commit: Callable[[], None] = lambda: None,
                           flex_gemm_local: Path = FLEX_GEMM_LOCAL_CACHE,
                           shipped: Sequence[Path] = FLEX_GEMM_SHIPPED_CACHES) -> FlexGemmCache:
    """Set the cache variables and write FlexGEMM's starting cache (before flex_gemm/triton are imported).
    `device`: (torch.cuda.get_device_name(), torch.cuda.get_device_capability())."""
    environ = os.environ if environ is None else environ
    env = compile_cache_env(cache_root, flex_gemm_local)
    environ.update(env)
    for key in ("TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    flex_gemm = FlexGemmCache(Path(cache_root) / "flex_gemm", flex_gemm_local, container_id=container_id, commit=commit)
    if device is not None:
        stats = flex_gemm.prepare(*device, shipped=shipped)
        log.info("FlexGEMM autotune cache for %s: %s", device[0], stats)
    return flex_gemm
