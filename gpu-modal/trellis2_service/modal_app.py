"""TRELLIS.2 on Modal: a CPU-only public API in front of an A100 worker class.

    modal run -m trellis2_service.modal_app::download_weights  # once: weights into the HF cache Volume (CPU)
    modal run -m trellis2_service.modal_app::verify            # build the image, run the pipeline end to end
    modal deploy -m trellis2_service.modal_app                 # deploy (run from gpu-modal/)

Layout:
- `Trellis2Worker` (GPU): loads the model once per container in @modal.enter (weights from the Volume,
  offline) and runs the plain work functions of trellis2_service.work; retires itself when the backend
  asks (modal.experimental); keeps a warm marker in a modal.Dict for /warmup (trellis2_service.warm).
- `api` (CPU, proxy auth): the FastAPI app of trellis2_service.app, path-routed (`<base>/generate`, ...).
  Synchronous routes call the worker with `.remote`; a job is one `spawn`ed call of `run_job`, followed by its
  FunctionCall id, with ownership and Idempotency-Key bindings in the `trellis2-jobs` modal.Dict (job_ledger.py).
- `generate_endpoint`, `extract_glb_endpoint`, `warmup_endpoint` (CPU, proxy auth): the same app on
  seed-style hosts (`...-generate.modal.run`), for clients written for the seed's subdomain routing.
- `health` (CPU, no auth): so probes never wake, or wait for, a GPU.
- `purge_expired` (CPU, hourly): Volumes never expire files; this deletes expired states and job results
  (GPU containers never purge: that is CPU work at GPU rates). The Dict's entries expire on their own.
- `download_weights` (CPU), `verify` (GPU): see the commands above; docs/gpu-cost-model.md for the costs.

Importing this module needs the `modal` package but no token or network (tests do so offline).
"""

from __future__ import annotations

import threading
from pathlib import Path

import modal

from trellis2_service import gpu_image as pins
from trellis2_service.config import (
    DEFAULT_STATE_TTL_SECONDS,
    GPU_RETRIES,
    GPU_TIMEOUT_SECONDS,
    SCALEDOWN_WINDOW_SECONDS,
    gpu_cpu_cores_from_env,
    gpu_from_env,
    gpu_memory_mib_from_env,
    low_vram_from_env,
    max_containers_from_env,
    preview_resolution_from_env,
    rembg_model_from_env,
)
from trellis2_service.gpu_runtime import compile_cache_env

# --- Configuration (read at deploy time) -----------------------------------------------------------------
APP_NAME = "trellis2"
GPU = gpu_from_env()  # env TRELLIS2_GPU at deploy time, default "A100-80GB"
MAX_CONTAINERS = max_containers_from_env()  # env TRELLIS2_MAX_CONTAINERS at deploy time, default 4
GPU_CPU_CORES = gpu_cpu_cores_from_env()  # env TRELLIS2_GPU_CPU, default 4 cores for the CPU stages
GPU_MEMORY_MIB = gpu_memory_mib_from_env()  # env TRELLIS2_GPU_MEMORY_MIB, default 24 GiB
LOW_VRAM = low_vram_from_env()  # env TRELLIS2_LOW_VRAM, default off (80 GB cards keep every model resident)
PREVIEW_RESOLUTION = preview_resolution_from_env()  # env TRELLIS2_PREVIEW_RESOLUTION, default 512
REMBG_MODEL = rembg_model_from_env()  # env TRELLIS2_REMBG_MODEL: briaai/RMBG-2.0 (non-commercial) or ZhengPeng7/BiRefNet
API_TIMEOUT_SECONDS = GPU_TIMEOUT_SECONDS + 60  # a synchronous route waits for a whole GPU call
API_MAX_CONCURRENT_INPUTS = 32  # status polls must not queue behind a waiting /generate
PURGE_SCHEDULE = modal.Period(hours=1)
CACHE_SYNC_SECONDS = 60  # FlexGEMM's new autotune entries reach the Volume within this (and at exit)
VERIFY_TIMEOUT_SECONDS = 1800  # a cold verify builds FlexGEMM's autotune cache and loads the model
WEIGHTS_TIMEOUT_SECONDS = 3600

API_LABEL = "trellis2-api"  # https://<workspace>--trellis2-api.modal.run/<route>
SEED_STYLE_LABELS = {"/generate": "trellis2-generate", "/extract_glb": "trellis2-extract-glb",
                     "/warmup": "trellis2-warmup"}
HEALTH_LABEL = "trellis2-health"

HF_CACHE_DIR = "/cache/huggingface"
COMPILE_CACHE_DIR = "/cache/compile"
STORE_DIR = "/store"
TRELLIS2_REPO_DIR = pins.TRELLIS2_REPO_DIR

hf_cache_volume = modal.Volume.from_name("trellis2-hf-cache", create_if_missing=True)
compile_cache_volume = modal.Volume.from_name("trellis2-compile-cache", create_if_missing=True)
store_volume = modal.Volume.from_name("trellis2-store", create_if_missing=True)
warm_dict = modal.Dict.from_name("trellis2-warm", create_if_missing=True)  # see trellis2_service/warm.py
jobs_dict = modal.Dict.from_name("trellis2-jobs", create_if_missing=True)  # the job ledger: job_keys.py
hf_secret = modal.Secret.from_name("huggingface", required_keys=["HF_TOKEN"])
state_secret = modal.Secret.from_name("trellis2-state-signing", required_keys=["TRELLIS2_STATE_SECRET"])

# add_local_python_source ships only .py files by default (modal's NON_PYTHON_FILES); verify's photo and the
# other files under trellis2_service/assets/ must reach the containers too. Everything else non-Python stays out.
SERVICE_SOURCE_IGNORE = ~modal.FilePatternMatcher("**/*.py", "assets/*")

# --- The GPU image: every version pinned (trellis2_service/gpu_image.py, gpu-image.lock.txt) --------------
gpu_image = (
    modal.Image.from_registry(pins.CUDA_BASE_IMAGE, add_python=pins.GPU_PYTHON)
    .apt_install("git", "clang", "build-essential", "ninja-build", "libgl1", "libglib2.0-0", "libjpeg-dev",
                 "libwebp-dev")
    # All Python packages, torch 2.6.0 (cu124) included, exactly as locked; --no-deps: nothing else enters.
    .pip_install_from_requirements(str(pins.GPU_LOCK_FILE), extra_options="--no-deps")
    .env({"TORCH_CUDA_ARCH_LIST": pins.CUDA_ARCH_LIST})
    .run_commands(pins.flash_attn_command(), gpu=pins.BUILD_GPU)
    .run_commands(*pins.source_commands(), gpu=pins.BUILD_GPU)
    .env({
        "ATTN_BACKEND": "flash_attn",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "OPENCV_IO_ENABLE_OPENEXR": "1",
        "HF_HOME": HF_CACHE_DIR,
        "HF_HUB_OFFLINE": "1",  # weights come from the Volume only (download_weights fills it)
        "PYTHONPATH": TRELLIS2_REPO_DIR,  # `import trellis2` from the checkout
        "TRELLIS2_ROOT": TRELLIS2_REPO_DIR,  # read by backends/trellis2.py
        "TRELLIS2_HDRI_PATH": f"{TRELLIS2_REPO_DIR}/assets/hdri/forest.exr",
        "TRELLIS2_STORE_DIR": STORE_DIR,
        "TRELLIS2_BACKEND": "trellis2",
        "TRELLIS2_GPU": GPU,  # so containers know the GPU type they were deployed with
        "TRELLIS2_LOW_VRAM": "1" if LOW_VRAM else "0",
        "TRELLIS2_PREVIEW_RESOLUTION": str(PREVIEW_RESOLUTION),
        **compile_cache_env(Path(COMPILE_CACHE_DIR)),  # FlexGEMM autotune, Triton, torch extensions
        "TRELLIS2_REMBG_MODEL": REMBG_MODEL,  # background removal, chosen at deploy time (see README, licences)
        "TRELLIS2_GPU_CPU": str(GPU_CPU_CORES),  # the MP4 encoder and the CPU tail use the reserved cores
    })
    .add_local_python_source("trellis2_service", ignore=SERVICE_SOURCE_IGNORE)
)

# --- The API image (CPU only): the same pins as gpu-modal/requirements.txt -------------------------------
api_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("fastapi==0.165.0", "pydantic==2.14.4", "numpy==2.4.6", "pillow==13.0.0", "lz4==4.4.5")
    .env({"TRELLIS2_STORE_DIR": STORE_DIR, "TRELLIS2_BACKEND": "trellis2",
          "TRELLIS2_STATE_TTL_SECONDS": str(DEFAULT_STATE_TTL_SECONDS)})
    .add_local_python_source("trellis2_service", ignore=SERVICE_SOURCE_IGNORE)
)

# --- The weights image (CPU only): huggingface_hub at the GPU image's version ----------------------------
weights_image = (
    modal.Image.debian_slim(python_version=pins.GPU_PYTHON)
    .pip_install_from_requirements(str(pins.WEIGHTS_LOCK_FILE), extra_options="--no-deps")
    .env({"HF_HOME": HF_CACHE_DIR, "TRELLIS2_REMBG_MODEL": REMBG_MODEL})
    .add_local_python_source("trellis2_service", ignore=SERVICE_SOURCE_IGNORE)
)

app = modal.App(APP_NAME)


def _prepare_compile_caches(container: str):
    """Cache variables set and FlexGEMM's autotune cache written for this GPU (before flex_gemm is imported)."""
    import torch

    from trellis2_service import gpu_runtime

    device = (torch.cuda.get_device_name(), tuple(torch.cuda.get_device_capability()))
    return gpu_runtime.prepare_compile_caches(Path(COMPILE_CACHE_DIR), device=device, container_id=container,
                                              commit=compile_cache_volume.commit)


def _settings():
    from trellis2_service.config import Settings

    # Proxy auth has already checked Modal-Key/Modal-Secret; the signing key must be shared by all containers.
    return Settings.from_env(auth_mode="proxy", require_state_secret=True, backend="trellis2", gpu=GPU,
                             store_dir=STORE_DIR)


def _volume_store(settings, *, purge_on_write: bool = True):
    from trellis2_service.store import Store

    # GPU containers never purge: the API purges at its writes and `purge_expired` every hour.
    return Store(settings.store_dir, ttl_seconds=settings.state_ttl_seconds,
                 commit=store_volume.commit, reload=store_volume.reload, purge_on_write=purge_on_write)


def _warm_signal():
    from trellis2_service.warm import WarmSignal

    return WarmSignal(warm_dict, scaledown_window_seconds=SCALEDOWN_WINDOW_SECONDS)


# --- The GPU worker --------------------------------------------------------------------------------------
@app.cls(
    image=gpu_image,
    gpu=GPU,
    cpu=GPU_CPU_CORES,
    memory=GPU_MEMORY_MIB,
    scaledown_window=SCALEDOWN_WINDOW_SECONDS,
    timeout=GPU_TIMEOUT_SECONDS,
    max_containers=MAX_CONTAINERS,
    retries=GPU_RETRIES,  # 0: a timed-out input is not re-run; jobs count attempts themselves
    volumes={HF_CACHE_DIR: hf_cache_volume, COMPILE_CACHE_DIR: compile_cache_volume, STORE_DIR: store_volume},
    secrets=[state_secret],  # no HF token: GPU containers only read the weights Volume (HF_HUB_OFFLINE=1)
)
class Trellis2Worker:
    @modal.enter()
    def load_model(self) -> None:
        from trellis2_service import gpu_runtime
        from trellis2_service.backends import create_backend
        from trellis2_service.config import hf_revisions_from_env
        from trellis2_service.work import GpuContainer, container_id

        self.flex_gemm_cache = _prepare_compile_caches(container_id())
        self._stop_cache_sync = threading.Event()
        gpu_runtime.sync_every(CACHE_SYNC_SECONDS, self.flex_gemm_cache.sync, self._stop_cache_sync)
        # Raises WeightsMissing naming `modal run -m trellis2_service.modal_app::download_weights`.
        gpu_runtime.require_weights(Path(HF_CACHE_DIR), hf_revisions_from_env())
        settings = _settings()
        store = _volume_store(settings, purge_on_write=False)
        self.worker = GpuContainer(create_backend("trellis2"), store, settings, device_name=GPU)
        self.worker.load()  # ~2 min on a cold container; the first call reports it as cold_start
        self.container_id = container_id()
        self.warm = _warm_signal()
        self._mark_active()

    @modal.exit()
    def shut_down(self) -> None:
        self._clear_warm_marker()
        cache = getattr(self, "flex_gemm_cache", None)  # absent if @modal.enter failed before preparing it
        if cache is not None:
            self._stop_cache_sync.set()
            cache.sync()  # this container's own file: concurrent exits never overwrite each other's tuning
        compile_cache_volume.commit()  # keep the Triton kernels and torch extensions this container compiled

    @modal.method()
    def generate(self, request: dict, submitted_at: float):
        return self._after_input(self.worker.generate(request, submitted_at))

    @modal.method()
    def extract(self, request: dict, submitted_at: float):
        return self._after_input(self.worker.extract(request, submitted_at))

    @modal.method()
    def warmup(self, submitted_at: float):
        return self._after_input(self.worker.warmup(submitted_at))

    @modal.method()
    def run_job(self, job_id: str, kind: str, request: dict, submitted_at: float) -> dict:
        """One job: its outcome is this call's return value; its result files are committed before it returns."""
        from trellis2_service.job_run import run_job

        outcome, retire_reason = run_job(self.worker, jobs_dict, self.worker.store, job_id, kind, request,
                                         submitted_at, call_id=modal.current_function_call_id(),
                                         max_attempts=self.worker.settings.max_job_attempts)
        self._after_input(None, retire_reason)
        return outcome

    def _clear_warm_marker(self) -> None:
        warm = getattr(self, "warm", None)  # absent if @modal.enter failed before writing it
        if warm is None:
            return
        try:
            warm.clear(self.container_id)
        except Exception as exc:  # the marker then ages out by itself
            print(f"could not clear the warm marker: {exc}")

    def _mark_active(self) -> None:
        try:
            self.warm.mark_active(self.container_id)
        except Exception as exc:  # the warm signal is an optimisation; never fail work over it
            print(f"could not write the warm marker: {exc}")

    def _after_input(self, result, reason: str | None = None):
        reason = reason or getattr(result, "retire_reason", None)
        if reason:
            import modal.experimental

            print(f"retiring this container after the current input: {reason}")
            self._clear_warm_marker()
            modal.experimental.stop_fetching_inputs()
        else:
            self._mark_active()
        return result


# --- The public API (CPU only) ---------------------------------------------------------------------------
def _api_app():
    from trellis2_service.app import create_app
    from trellis2_service.job_calls import ModalCalls
    from trellis2_service.logs import configure_logging

    configure_logging()
    settings = _settings()
    store = _volume_store(settings)
    return create_app(settings=settings, calls=ModalCalls(Trellis2Worker()), ledger_kv=jobs_dict, store=store,
                      backend_name="trellis2", warm_check=_warm_check)


def _warm_check() -> dict:
    """/warmup on Modal: answer from the warm signal; start one warm-up call (not waited for) only when no
    GPU container is warm and none is starting. Never waits for, or takes, a container from real work."""
    import time

    from trellis2_service.warm import warmup_body

    started = time.perf_counter()
    answer = _warm_signal().warm_or_start(lambda: Trellis2Worker().warmup.spawn(time.time()))
    return warmup_body(answer, device=GPU, backend="trellis2", compute_seconds=time.perf_counter() - started)


def _seed_style_app(path: str):
    from trellis2_service.seed_api import route_root_to

    return route_root_to(_api_app(), path)


_API_FUNCTION = dict(image=api_image, volumes={STORE_DIR: store_volume}, secrets=[state_secret],
                     timeout=API_TIMEOUT_SECONDS, scaledown_window=SCALEDOWN_WINDOW_SECONDS)


@app.function(**_API_FUNCTION)
@modal.concurrent(max_inputs=API_MAX_CONCURRENT_INPUTS)
@modal.asgi_app(label=API_LABEL, requires_proxy_auth=True)
def api():
    return _api_app()


@app.function(**_API_FUNCTION)
@modal.concurrent(max_inputs=API_MAX_CONCURRENT_INPUTS)
@modal.asgi_app(label=SEED_STYLE_LABELS["/generate"], requires_proxy_auth=True)
def generate_endpoint():
    return _seed_style_app("/generate")


@app.function(**_API_FUNCTION)
@modal.concurrent(max_inputs=API_MAX_CONCURRENT_INPUTS)
@modal.asgi_app(label=SEED_STYLE_LABELS["/extract_glb"], requires_proxy_auth=True)
def extract_glb_endpoint():
    return _seed_style_app("/extract_glb")


@app.function(**_API_FUNCTION)
@modal.concurrent(max_inputs=API_MAX_CONCURRENT_INPUTS)
@modal.asgi_app(label=SEED_STYLE_LABELS["/warmup"], requires_proxy_auth=True)
def warmup_endpoint():
    return _seed_style_app("/warmup")


@app.function(image=api_image)
@modal.fastapi_endpoint(method="GET", label=HEALTH_LABEL)
def health():
    from fastapi.responses import JSONResponse

    from trellis2_service import __version__
    from trellis2_service.ids import new_request_id

    request_id = new_request_id()
    body = {"status": "ok", "service": "trellis2-api", "backend": "trellis2", "version": __version__,
            "request_id": request_id}
    return JSONResponse(body, headers={"X-Request-Id": request_id})


# --- Housekeeping ----------------------------------------------------------------------------------------
@app.function(image=api_image, volumes={STORE_DIR: store_volume}, schedule=PURGE_SCHEDULE, timeout=600)
def purge_expired() -> int:
    from trellis2_service.config import Settings
    from trellis2_service.store import Store

    settings = Settings.from_env(auth_mode="none", store_dir=STORE_DIR)  # no signing key needed to delete
    store = Store(STORE_DIR, ttl_seconds=settings.state_ttl_seconds, commit=store_volume.commit,
                  reload=store_volume.reload)
    store.reload()
    removed = store.purge_expired()
    print(f"purged {removed} expired states and job results")
    return removed


# --- Weights: filled once by a CPU function, read by every GPU container ----------------------------------
@app.function(image=weights_image, secrets=[hf_secret], volumes={HF_CACHE_DIR: hf_cache_volume},
              timeout=WEIGHTS_TIMEOUT_SECONDS, cpu=2.0, memory=4096)
def download_weights() -> dict:
    """`modal run -m trellis2_service.modal_app::download_weights`: the models at their pinned revisions into
    the HF cache Volume (~16 GB, once; again only when a pin changes)."""
    import os

    from huggingface_hub import HfApi, snapshot_download

    from trellis2_service import gpu_runtime
    from trellis2_service.config import HF_MODEL_FILES, hf_revisions_from_env

    token = os.environ["HF_TOKEN"]
    manifest = gpu_runtime.download_weights(
        hf_revisions_from_env(), Path(HF_CACHE_DIR), snapshot_download=snapshot_download, token=token,
        files=HF_MODEL_FILES,
        resolve_main=lambda repo: HfApi(token=token).model_info(repo, revision="main").sha)
    hf_cache_volume.commit()
    print(f"weights on the Volume: {manifest['models']}")
    return manifest


# --- verify: proves a deployment by running it ------------------------------------------------------------
verify_dict = modal.Dict.from_name("trellis2-verify", create_if_missing=True)  # scratch keys, removed after use


@app.function(image=api_image, timeout=VERIFY_TIMEOUT_SECONDS)
def verify_deployed_api(api_url: str, photo: bytes) -> str:
    """CPU: one job through the deployed API, end to end (gpu_checks.DeployedJobCheck). `verify` starts it
    with the proxy-auth secret attached, so it runs beside verify's GPU steps instead of on the GPU's clock."""
    import os

    from trellis2_service import gpu_checks

    check = gpu_checks.DeployedJobCheck(gpu_checks.urllib_http(), api_url, gpu_checks.proxy_headers(os.environ), photo)
    return check.run()


def _start_deployed_api_check():
    """The deployed `api`'s URL, the optional proxy-token secret (a clear failure naming how to create it),
    and the spawned CPU check; returns how to collect its answer."""
    from trellis2_service import gpu_checks

    try:
        api_url = modal.Function.from_name(APP_NAME, "api").get_web_url()
    except Exception as exc:
        raise RuntimeError(f"no deployed `{APP_NAME}` app to check ({type(exc).__name__}: {exc}): "
                           "run `modal deploy -m trellis2_service.modal_app` first") from None
    secret = modal.Secret.from_name(gpu_checks.VERIFY_PROXY_SECRET, required_keys=list(gpu_checks.VERIFY_PROXY_KEYS))
    try:
        secret.hydrate()
    except Exception as exc:
        raise RuntimeError(f"Modal secret `{gpu_checks.VERIFY_PROXY_SECRET}` with {', '.join(gpu_checks.VERIFY_PROXY_KEYS)} "
                           f"is not usable ({type(exc).__name__}): {gpu_checks.PROXY_SECRET_HOWTO}") from None
    call = verify_deployed_api.with_options(secrets=[secret]).spawn(api_url, gpu_checks.VERIFY_IMAGE.read_bytes())
    return lambda: call.get(timeout=VERIFY_TIMEOUT_SECONDS)


@app.function(image=gpu_image, gpu=GPU, cpu=GPU_CPU_CORES, memory=GPU_MEMORY_MIB, secrets=[hf_secret, state_secret],
              volumes={HF_CACHE_DIR: hf_cache_volume, COMPILE_CACHE_DIR: compile_cache_volume, STORE_DIR: store_volume},
              timeout=VERIFY_TIMEOUT_SECONDS)
def verify() -> bool:
    """Every step of gpu_checks (its docstring); prints a table and ends with VERDICT: PASSED, or raises
    (non-zero exit) with VERDICT: FAILED."""
    import os

    from trellis2_service import gpu_checks, gpu_runtime
    from trellis2_service.backends.trellis2 import Trellis2Backend
    from trellis2_service.config import REMBG_MODELS, hf_revisions_from_env

    api_check = gpu_checks.Background(_start_deployed_api_check)  # first: it runs while the GPU works
    flex_gemm_cache = _prepare_compile_caches(f"verify-{os.environ.get('MODAL_TASK_ID', 'local')}")
    revisions = hf_revisions_from_env()
    steps = gpu_checks.verify_steps(
        expected_commits=pins.PINNED_COMMITS,
        hdri_path=os.environ["TRELLIS2_HDRI_PATH"],
        require_weights=lambda: gpu_runtime.require_weights(Path(HF_CACHE_DIR), revisions),
        make_backend=lambda: Trellis2Backend(preview_frames=gpu_checks.VERIFY_PREVIEW_FRAMES),
        gated_models=[repo for repo in gpu_checks.GATED_MODELS if repo in revisions],
        state_secret=os.environ["TRELLIS2_STATE_SECRET"].encode(),
        volume_check=gpu_checks.check_volume_round_trip(Path(STORE_DIR), store_volume.commit, store_volume.reload),
        dict_check=gpu_checks.check_dict_round_trip(verify_dict),
        api_check=api_check,
    )
    header = [f"verify on {GPU} (deployed), low_vram={LOW_VRAM}, preview {PREVIEW_RESOLUTION} px, "
              f"{GPU_CPU_CORES:g} CPU cores",
              f"background removal: {REMBG_MODEL} ({REMBG_MODELS[REMBG_MODEL]})",
              "pinned: " + " ".join(f"{name}={commit}" for name, commit in pins.PINNED_COMMITS.items())]
    passed = gpu_checks.run_verify(steps, memory=gpu_checks.torch_memory_or_none(), header=header)
    flex_gemm_cache.sync()
    compile_cache_volume.commit()
    if not passed:
        raise RuntimeError("VERDICT: FAILED (see the report above)")
    return True
