"""TRELLIS.2 on Modal: a CPU-only public API in front of an A100 worker class.

    modal run -m trellis2_service.modal_app::verify   # build the GPU image, check every dependency + HF access
    modal deploy -m trellis2_service.modal_app        # deploy (run from gpu-modal/)

Layout:
- `Trellis2Worker` (GPU): loads the model once per container in @modal.enter and runs the plain work
  functions of trellis2_service.work; retires itself when the backend asks (modal.experimental).
- `api` (CPU, proxy auth): the FastAPI app of trellis2_service.app, path-routed (`<base>/generate`, ...).
  Synchronous routes call the worker with `.remote`; jobs `spawn` it and are tracked by FunctionCall id.
- `generate_endpoint`, `extract_glb_endpoint`, `warmup_endpoint` (CPU, proxy auth): the same app on
  seed-style hosts (`...-generate.modal.run`), for clients written for the seed's subdomain routing.
- `health` (CPU, no auth): so probes never wake, or wait for, a GPU.
- `purge_expired` (CPU, hourly): Volumes never expire files; this deletes expired states and jobs.

Importing this module needs the `modal` package but no token or network (tests do so offline).
"""

from __future__ import annotations

import modal

from trellis2_service.config import (
    DEFAULT_STATE_TTL_SECONDS,
    GPU_TIMEOUT_SECONDS,
    SCALEDOWN_WINDOW_SECONDS,
    gpu_from_env,
    max_containers_from_env,
)

# --- Configuration ---------------------------------------------------------------------------------------
APP_NAME = "trellis2"
GPU = gpu_from_env()  # env TRELLIS2_GPU at deploy time, default "A100-80GB"
MAX_CONTAINERS = max_containers_from_env()  # env TRELLIS2_MAX_CONTAINERS at deploy time, default 4
GPU_RETRIES = modal.Retries(max_retries=2, backoff_coefficient=2.0, initial_delay=5.0)
API_TIMEOUT_SECONDS = GPU_TIMEOUT_SECONDS + 60  # a synchronous route waits for a whole GPU call
API_MAX_CONCURRENT_INPUTS = 32  # status polls must not queue behind a waiting /generate
PURGE_SCHEDULE = modal.Period(hours=1)

API_LABEL = "trellis2-api"  # https://<workspace>--trellis2-api.modal.run/<route>
SEED_STYLE_LABELS = {"/generate": "trellis2-generate", "/extract_glb": "trellis2-extract-glb",
                     "/warmup": "trellis2-warmup"}
HEALTH_LABEL = "trellis2-health"

HF_CACHE_DIR = "/cache/huggingface"
STORE_DIR = "/store"
TRELLIS2_REPO_DIR = "/opt/TRELLIS.2"

hf_cache_volume = modal.Volume.from_name("trellis2-hf-cache", create_if_missing=True)
store_volume = modal.Volume.from_name("trellis2-store", create_if_missing=True)
hf_secret = modal.Secret.from_name("huggingface", required_keys=["HF_TOKEN"])
state_secret = modal.Secret.from_name("trellis2-state-signing", required_keys=["TRELLIS2_STATE_SECRET"])

# --- The GPU image ---------------------------------------------------------------------------------------
CUDA_BASE_IMAGE = "nvidia/cuda:12.4.0-devel-ubuntu22.04"
GPU_PYTHON = "3.10"
TORCH_INDEX_URL = "https://download.pytorch.org/whl/cu124"
TORCH_VERSION, TORCHVISION_VERSION = "2.6.0", "0.21.0"
FLASH_ATTN_VERSION = "2.7.3"
CUDA_ARCH_LIST = "8.0;8.6;8.9;9.0"  # A100, A10G/L4-class, L40S, H100: extensions build for all of them
BUILD_GPU = "A10G"  # a GPU on the builder so CUDA extensions see a device while compiling

UTILS3D_COMMIT = "9a4eb15e4021b67b12c460c7057d642626897ec8"
NVDIFFRAST_REF = "v0.4.0"
TRELLIS2_COMMIT = "1762f49"  # MUST BE SET TO THE FULL 40-HEX HASH AND VERIFIED BEFORE DEPLOY (known prefix)
# These three are branch names, not commits: pin each to the commit `verify` prints under "built from:".
NVDIFFREC_REF = "renderutils"  # MUST BE PINNED BEFORE DEPLOY
CUMESH_REF = "main"  # MUST BE PINNED BEFORE DEPLOY
FLEXGEMM_REF = "main"  # MUST BE PINNED BEFORE DEPLOY

# TRELLIS.2's own Python dependencies (its setup.sh "basic" set), and the service's.
PIPELINE_PACKAGES = [
    "imageio", "imageio-ffmpeg", "tqdm", "easydict", "opencv-python-headless", "trimesh", "plyfile",
    "zstandard", "kornia", "timm", "lpips", "transformers>=4.56,<5", "huggingface_hub>=0.25",
]
# pip picks the newest releases that support Python 3.10 (numpy 2.3+, pillow 13 and av 18 need 3.11).
SERVICE_PACKAGES = ["lz4==4.4.5", "numpy>=1.26,<2.3", "pillow>=10", "av>=14"]


def _clone(url: str, ref: str, path: str, *, recursive: bool = False) -> str:
    submodules = " && git submodule update --init --recursive" if recursive else ""
    return f"git clone {url} {path} && cd {path} && git checkout {ref}{submodules}"


gpu_image = (
    modal.Image.from_registry(CUDA_BASE_IMAGE, add_python=GPU_PYTHON)
    .apt_install("git", "clang", "build-essential", "ninja-build", "libgl1", "libglib2.0-0", "libjpeg-dev",
                 "libwebp-dev")
    .pip_install(f"torch=={TORCH_VERSION}", f"torchvision=={TORCHVISION_VERSION}", index_url=TORCH_INDEX_URL)
    .pip_install("packaging", "ninja", "wheel", "setuptools", "psutil")
    .pip_install(f"flash-attn=={FLASH_ATTN_VERSION}", extra_options="--no-build-isolation")
    .pip_install(*PIPELINE_PACKAGES, *SERVICE_PACKAGES)
    .pip_install(f"git+https://github.com/EasternJournalist/utils3d.git@{UTILS3D_COMMIT}")
    .env({"TORCH_CUDA_ARCH_LIST": CUDA_ARCH_LIST})
    .run_commands(
        # Some submodules (CuMesh's cubvh) are declared with SSH URLs; the builder has no SSH key.
        'git config --global url."https://github.com/".insteadOf "git@github.com:"',
        _clone("https://github.com/NVlabs/nvdiffrast.git", NVDIFFRAST_REF, "/opt/ext/nvdiffrast"),
        "pip install --no-build-isolation /opt/ext/nvdiffrast",
        _clone("https://github.com/JeffreyXiang/nvdiffrec.git", NVDIFFREC_REF, "/opt/ext/nvdiffrec"),
        "pip install --no-build-isolation /opt/ext/nvdiffrec",
        _clone("https://github.com/JeffreyXiang/CuMesh.git", CUMESH_REF, "/opt/ext/CuMesh", recursive=True),
        "pip install --no-build-isolation /opt/ext/CuMesh",
        _clone("https://github.com/JeffreyXiang/FlexGEMM.git", FLEXGEMM_REF, "/opt/ext/FlexGEMM", recursive=True),
        "pip install --no-build-isolation /opt/ext/FlexGEMM",
        _clone("https://github.com/microsoft/TRELLIS.2.git", TRELLIS2_COMMIT, TRELLIS2_REPO_DIR, recursive=True),
        # o-voxel names CuMesh and FlexGEMM as git dependencies: they are built above, so no deps here.
        f"pip install --no-build-isolation --no-deps {TRELLIS2_REPO_DIR}/o-voxel",
        # Record what was built, so `verify` can print the commits to pin.
        "for d in /opt/ext/* " + TRELLIS2_REPO_DIR + "; do echo \"$(basename $d)=$(git -C $d rev-parse HEAD)\"; "
        "done > /opt/trellis2-build-commits.txt",
        gpu=BUILD_GPU,
    )
    .env({
        "ATTN_BACKEND": "flash_attn",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "OPENCV_IO_ENABLE_OPENEXR": "1",
        "HF_HOME": HF_CACHE_DIR,
        "PYTHONPATH": TRELLIS2_REPO_DIR,  # `import trellis2` from the checkout
        "TRELLIS2_ROOT": TRELLIS2_REPO_DIR,  # read by backends/trellis2.py and gpu_checks.py
        "TRELLIS2_HDRI_PATH": f"{TRELLIS2_REPO_DIR}/assets/hdri/forest.exr",
        "TRELLIS2_STORE_DIR": STORE_DIR,
        "TRELLIS2_BACKEND": "trellis2",
        "TRELLIS2_GPU": GPU,  # so containers know the GPU type they were deployed with
    })
    .add_local_python_source("trellis2_service")
)

# --- The API image (CPU only): the same pins as gpu-modal/requirements.txt -------------------------------
api_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("fastapi==0.165.0", "pydantic==2.14.4", "numpy==2.4.6", "pillow==13.0.0", "lz4==4.4.5")
    .env({"TRELLIS2_STORE_DIR": STORE_DIR, "TRELLIS2_BACKEND": "trellis2",
          "TRELLIS2_STATE_TTL_SECONDS": str(DEFAULT_STATE_TTL_SECONDS)})
    .add_local_python_source("trellis2_service")
)

app = modal.App(APP_NAME)


def _settings():
    from trellis2_service.config import Settings

    # Proxy auth has already checked Modal-Key/Modal-Secret; the signing key must be shared by all containers.
    return Settings.from_env(auth_mode="proxy", require_state_secret=True, backend="trellis2", gpu=GPU,
                             store_dir=STORE_DIR)


def _volume_store(settings):
    from trellis2_service.store import Store

    return Store(settings.store_dir, ttl_seconds=settings.state_ttl_seconds,
                 commit=store_volume.commit, reload=store_volume.reload)


# --- The GPU worker --------------------------------------------------------------------------------------
@app.cls(
    image=gpu_image,
    gpu=GPU,
    scaledown_window=SCALEDOWN_WINDOW_SECONDS,
    timeout=GPU_TIMEOUT_SECONDS,
    max_containers=MAX_CONTAINERS,
    retries=GPU_RETRIES,
    volumes={HF_CACHE_DIR: hf_cache_volume, STORE_DIR: store_volume},
    secrets=[hf_secret, state_secret],
)
class Trellis2Worker:
    @modal.enter()
    def load_model(self) -> None:
        from trellis2_service.backends import create_backend
        from trellis2_service.work import Worker

        settings = _settings()
        self.worker = Worker(create_backend("trellis2"), _volume_store(settings), settings, device_name=GPU)
        self.worker.load()  # ~2 min on a cold container; the first call reports it as cold_start

    @modal.method()
    def generate(self, request: dict, submitted_at: float):
        return self._retire_if_asked(self.worker.generate(request, submitted_at))

    @modal.method()
    def extract(self, request: dict, submitted_at: float):
        return self._retire_if_asked(self.worker.extract(request, submitted_at))

    @modal.method()
    def warmup(self, submitted_at: float):
        return self._retire_if_asked(self.worker.warmup(submitted_at))

    @modal.method()
    def run_job(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str:
        from trellis2_service.jobs import execute_job

        retire_reason = execute_job(self.worker, self.worker.store, job_id, kind, request, submitted_at)
        self._retire_if_asked(None, retire_reason)
        return job_id  # the outcome itself is on the store Volume, committed before this returns

    def _retire_if_asked(self, result, reason: str | None = None):
        reason = reason or getattr(result, "retire_reason", None)
        if reason:
            import modal.experimental

            print(f"retiring this container after the current input: {reason}")
            modal.experimental.stop_fetching_inputs()
        return result


# --- The public API (CPU only) ---------------------------------------------------------------------------
def _api_app():
    from trellis2_service.app import create_app
    from trellis2_service.jobs import ModalRunner
    from trellis2_service.logs import configure_logging

    configure_logging()
    settings = _settings()
    store = _volume_store(settings)
    return create_app(settings=settings, runner=ModalRunner(Trellis2Worker(), store), store=store,
                      backend_name="trellis2")


def _seed_style_app(path: str):
    from trellis2_service.app import route_root_to

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
    print(f"purged {removed} expired states/jobs")
    return removed


@app.function(image=gpu_image, gpu=GPU, secrets=[hf_secret], volumes={HF_CACHE_DIR: hf_cache_volume}, timeout=600)
def verify() -> bool:
    """Print PASSED/FAILED for each dependency and each gated model, then a verdict."""
    from trellis2_service.gpu_checks import run_checks

    return run_checks()
