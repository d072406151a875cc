"""Limits, defaults and the settings the service reads from its environment.

Everything a reader may want to tune sits at the top as a named constant; `Settings` reads the few values
that differ between a laptop and a Modal deployment from env vars and refuses bad ones with a message
naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

MiB = 1024 * 1024

# --- Request limits (docs/service-api.md) ---------------------------------------------------------------
MAX_IMAGE_BYTES = 10 * MiB  # decoded image payload
MAX_IMAGE_SIDE_PX = 4096  # width and height
DEFAULT_MAX_BODY_BYTES = 16 * MiB  # base64 of a 10 MiB image plus JSON
DEFAULT_MAX_STATE_BYTES = 512 * MiB  # an inline state, decompressed
# Bodies of the extract routes carry an inline state back (the seed's way): a real TRELLIS.2 state,
# compressed and base64-encoded, can be far over the generate limit.
DEFAULT_MAX_STATE_BODY_BYTES = 256 * MiB
STATE_BODY_ROUTES = ("/extract_glb", "/jobs/extract_glb")
ALLOWED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")

# --- Generation defaults and ranges (the seed's field names and values) ---------------------------------
PIPELINE_TYPES = ("512", "1024", "1024_cascade", "1536_cascade")
DEFAULT_PIPELINE_TYPE = "1024_cascade"
DEFAULT_SEED = 42
MAX_SEED = 2**31 - 1
DEFAULT_SS_STEPS, DEFAULT_SS_GUIDANCE = 12, 7.5
DEFAULT_SHAPE_STEPS, DEFAULT_SHAPE_GUIDANCE = 12, 7.5
DEFAULT_TEX_STEPS, DEFAULT_TEX_GUIDANCE = 12, 1.0
MIN_STEPS, MAX_STEPS = 1, 100
# Sampler steps per stage, by pipeline type, so that no valid request outruns GPU_TIMEOUT_SECONDS (600 s).
# A generation's time is about linear in its steps; at the defaults (12 per stage, 36 in all) the seed
# measured (upper ends, A100-80GB, warm) 512: 12 s, 1024: 30 s, 1024_cascade: 35 s, 1536_cascade: 100 s.
# Charging all of it to the steps (which over-estimates: decoding and conditioning do not grow with them),
# a cap c per stage costs at most 3c/36 x that time; each cap keeps it under half the timeout (300 s), the
# margin for the preview, a slower card and the unmeasured peak of 1536_cascade. docs/gpu-cost-model.md.
MAX_STEPS_BY_PIPELINE = {"512": 100, "1024": 100, "1024_cascade": 100, "1536_cascade": 36}
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 20.0
STATE_MODES = ("inline", "reference")

# --- GLB extraction defaults and ranges (the seed's Quality preset) -------------------------------------
TEXTURE_SIZES = (512, 1024, 2048, 4096)
DEFAULT_TEXTURE_SIZE = 4096
DEFAULT_DECIMATION_TARGET = 1_000_000
MIN_DECIMATION_TARGET = 1000
MAX_DECIMATION_TARGET = 16_777_216  # nvdiffrast's face limit
DEFAULT_REMESH_BAND, MAX_REMESH_BAND = 1.0, 10.0
DEFAULT_REMESH_PROJECT = 0.0
# One extract job may make several GLBs of one state (one GPU call): at most this many, named like this.
MAX_PRESETS_PER_JOB = 8
PRESET_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

# --- Modal deployment defaults --------------------------------------------------------------------------
DEFAULT_GPU = "A100-80GB"
SCALEDOWN_WINDOW_SECONDS = 300
GPU_TIMEOUT_SECONDS = 600
DEFAULT_MAX_CONTAINERS = 4
DEFAULT_STATE_TTL_SECONDS = 24 * 3600
# A job started this many times (each start killed its container) is failed as poison_input, not rerun.
DEFAULT_MAX_JOB_ATTEMPTS = 2

# --- The GPU worker (read at deploy time / container start; see docs/gpu-cost-model.md) --------------------
DEFAULT_PREVIEW_RESOLUTION = 512  # the seed's preview size; upstream's render_video default is 1024
PREVIEW_RESOLUTIONS = (256, 384, 512, 768, 1024)
DEFAULT_GPU_CPU_CORES = 4.0  # reserved for the CPU stages: xatlas UV unwrap, inpainting, PNG/WebP, MP4
DEFAULT_GPU_MEMORY_MIB = 24 * 1024  # host RAM: model load passes through it, plus states and textures
GPU_RETRIES = 0  # Modal re-runs timed-out inputs too; crashes are rescheduled anyway; jobs count attempts
# Hugging Face revisions (40-hex commits) the weights are downloaded and loaded at. None: download_weights
# resolves `main` once, prints the commit it got with a warning, and records it on the Volume; pin the
# printed commits here (or in TRELLIS2_HF_REVISIONS="repo@commit,...") so every deploy loads the same weights.
HF_MODEL_REVISIONS: dict[str, str | None] = {
    "microsoft/TRELLIS.2-4B": None,
    # TRELLIS.2-4B's pipeline.json takes its sparse-structure decoder from TRELLIS v1's repository
    # ("microsoft/TRELLIS-image-large/ckpts/ss_dec_conv3d_16l8_fp16"): offline loading needs it too.
    "microsoft/TRELLIS-image-large": None,
    "facebook/dinov3-vitl16-pretrain-lvd1689m": None,  # gated
    "briaai/RMBG-2.0": None,  # gated; CC BY-NC 4.0, non-commercial use only
    "ZhengPeng7/BiRefNet": None,  # MIT; the commercial choice (TRELLIS2_REMBG_MODEL)
}
# Background removal (upstream's pipeline.json: BiRefNet class, briaai/RMBG-2.0 weights). Both load through
# upstream's BiRefNet class; only the one chosen at deploy time is downloaded and loaded. Licences: README.
REMBG_MODELS = {"briaai/RMBG-2.0": "CC BY-NC 4.0 (non-commercial use only)", "ZhengPeng7/BiRefNet": "MIT"}
DEFAULT_REMBG_MODEL = "briaai/RMBG-2.0"
# Only these files of a repository are downloaded (others: the whole snapshot).
HF_MODEL_FILES: dict[str, tuple[str, ...]] = {
    "microsoft/TRELLIS-image-large": ("ckpts/ss_dec_conv3d_16l8_fp16.json", "ckpts/ss_dec_conv3d_16l8_fp16.safetensors"),
}
_COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")

# --- Local defaults --------------------------------------------------------------------------------------
DEFAULT_PORT = 8787
DEFAULT_HOST = "127.0.0.1"
BACKEND_NAMES = ("relief", "trellis2", "wait")
# `gpu-modal/.store/`, git-ignored, so a local run never writes outside the checkout unless told to.
DEFAULT_LOCAL_STORE_DIR = Path(__file__).resolve().parent.parent / ".store"

AuthMode = Literal["local", "proxy", "none"]
AUTH_MODES = ("local", "proxy", "none")
MIN_STATE_SECRET_CHARS = 16
_GPU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(:[1-8])?")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the env var to fix."""


@dataclass(frozen=True)
class Settings:
    """What one service process needs to know about its deployment."""

    auth_mode: AuthMode = "local"
    modal_key: str | None = field(default=None, repr=False)
    modal_secret: str | None = field(default=None, repr=False)
    state_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    state_secret_is_ephemeral: bool = True
    store_dir: Path = DEFAULT_LOCAL_STORE_DIR
    state_ttl_seconds: int = DEFAULT_STATE_TTL_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    max_state_body_bytes: int = DEFAULT_MAX_STATE_BODY_BYTES
    backend: str = "relief"
    gpu: str = DEFAULT_GPU
    max_containers: int = DEFAULT_MAX_CONTAINERS
    max_job_attempts: int = DEFAULT_MAX_JOB_ATTEMPTS

    def body_limit_for(self, path: str) -> int:
        """The request body limit of a route: extract routes may carry an inline state."""
        if path.rstrip("/") in STATE_BODY_ROUTES:
            return max(self.max_body_bytes, self.max_state_body_bytes)
        return self.max_body_bytes

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ConfigError(f"auth mode must be one of {AUTH_MODES}, got {self.auth_mode!r}")
        if self.auth_mode == "local" and not (self.modal_key and self.modal_secret):
            raise ConfigError(
                "TRELLIS2_MODAL_KEY and TRELLIS2_MODAL_SECRET must both be set to serve with authentication "
                "(or start the local server with --no-auth)"
            )
        if len(self.state_secret) < MIN_STATE_SECRET_CHARS:
            raise ConfigError(f"TRELLIS2_STATE_SECRET must be at least {MIN_STATE_SECRET_CHARS} characters")
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"backend must be one of {BACKEND_NAMES}, got {self.backend!r}")
        if not _GPU_PATTERN.fullmatch(self.gpu):
            raise ConfigError(f"TRELLIS2_GPU must look like 'A100-80GB' or 'H100:2', got {self.gpu!r}")
        for name, value, lowest in (
            ("TRELLIS2_STATE_TTL_SECONDS", self.state_ttl_seconds, 60),
            ("TRELLIS2_MAX_BODY_BYTES", self.max_body_bytes, 1024),
            ("TRELLIS2_MAX_STATE_BYTES", self.max_state_bytes, 1024),
            ("TRELLIS2_MAX_STATE_BODY_BYTES", self.max_state_body_bytes, 1024),
            ("TRELLIS2_MAX_CONTAINERS", self.max_containers, 1),
            ("TRELLIS2_MAX_JOB_ATTEMPTS", self.max_job_attempts, 1),
        ):
            if value < lowest:
                raise ConfigError(f"{name} must be at least {lowest}, got {value}")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        auth_mode: AuthMode = "local",
        require_state_secret: bool = False,
        **overrides,
    ) -> "Settings":
        """Read settings from `env` (default `os.environ`); keyword overrides win over the environment.

        `require_state_secret` is set on Modal: containers there must agree on the signing key, so a
        per-process random one would make every inline state unusable on the next container.
        """
        env = os.environ if env is None else env
        raw_secret = _text(env, "TRELLIS2_STATE_SECRET")
        if raw_secret is None and require_state_secret:
            raise ConfigError("TRELLIS2_STATE_SECRET is not set (create the Modal secret that holds it)")
        values = dict(
            auth_mode=auth_mode,
            modal_key=_text(env, "TRELLIS2_MODAL_KEY"),
            modal_secret=_text(env, "TRELLIS2_MODAL_SECRET"),
            state_secret=raw_secret.encode() if raw_secret else secrets.token_bytes(32),
            state_secret_is_ephemeral=raw_secret is None,
            store_dir=Path(_text(env, "TRELLIS2_STORE_DIR") or DEFAULT_LOCAL_STORE_DIR).expanduser(),
            state_ttl_seconds=_integer(env, "TRELLIS2_STATE_TTL_SECONDS", DEFAULT_STATE_TTL_SECONDS),
            max_body_bytes=_integer(env, "TRELLIS2_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_state_bytes=_integer(env, "TRELLIS2_MAX_STATE_BYTES", DEFAULT_MAX_STATE_BYTES),
            max_state_body_bytes=_integer(env, "TRELLIS2_MAX_STATE_BODY_BYTES", DEFAULT_MAX_STATE_BODY_BYTES),
            backend=_text(env, "TRELLIS2_BACKEND") or "relief",
            gpu=_text(env, "TRELLIS2_GPU") or DEFAULT_GPU,
            max_containers=_integer(env, "TRELLIS2_MAX_CONTAINERS", DEFAULT_MAX_CONTAINERS),
            max_job_attempts=_integer(env, "TRELLIS2_MAX_JOB_ATTEMPTS", DEFAULT_MAX_JOB_ATTEMPTS),
        )
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    value = _text(env, name)
    if value is None:
        return default
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None


def gpu_from_env(env: Mapping[str, str] | None = None) -> str:
    """The GPU type for the Modal worker class (read at deploy time, so not part of a running Settings)."""
    value = _text(os.environ if env is None else env, "TRELLIS2_GPU") or DEFAULT_GPU
    if not _GPU_PATTERN.fullmatch(value):
        raise ConfigError(f"TRELLIS2_GPU must look like 'A100-80GB' or 'H100:2', got {value!r}")
    return value


def max_containers_from_env(env: Mapping[str, str] | None = None) -> int:
    value = _integer(os.environ if env is None else env, "TRELLIS2_MAX_CONTAINERS", DEFAULT_MAX_CONTAINERS)
    if value < 1:
        raise ConfigError(f"TRELLIS2_MAX_CONTAINERS must be at least 1, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _text(env, name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1/0 (or true/false), got {value!r}")


def low_vram_from_env(env: Mapping[str, str] | None = None) -> bool:
    """TRELLIS2_LOW_VRAM: keep TRELLIS.2's low-VRAM mode (models shuttle CPU<->GPU per call). Off by default:
    an 80 GB card holds every model, and the shuttling costs GPU seconds on every call."""
    return _flag(os.environ if env is None else env, "TRELLIS2_LOW_VRAM", False)


def preview_resolution_from_env(env: Mapping[str, str] | None = None) -> int:
    value = _integer(os.environ if env is None else env, "TRELLIS2_PREVIEW_RESOLUTION", DEFAULT_PREVIEW_RESOLUTION)
    if value not in PREVIEW_RESOLUTIONS:
        raise ConfigError(f"TRELLIS2_PREVIEW_RESOLUTION must be one of {PREVIEW_RESOLUTIONS}, got {value}")
    return value


def gpu_cpu_cores_from_env(env: Mapping[str, str] | None = None) -> float:
    value = _text(os.environ if env is None else env, "TRELLIS2_GPU_CPU") or str(DEFAULT_GPU_CPU_CORES)
    try:
        cores = float(value)
    except ValueError:
        raise ConfigError(f"TRELLIS2_GPU_CPU must be a number of cores, got {value!r}") from None
    if not 0.25 <= cores <= 64:
        raise ConfigError(f"TRELLIS2_GPU_CPU must lie in 0.25..64, got {cores}")
    return cores


def cpu_threads_from_env(env: Mapping[str, str] | None = None) -> int:
    """Threads for CPU work inside a GPU container (MP4 encoding, the GLB's CPU tail): the cores the
    container reserves (TRELLIS2_GPU_CPU, which the image passes in), at least 1."""
    return max(1, int(gpu_cpu_cores_from_env(env)))


def gpu_memory_mib_from_env(env: Mapping[str, str] | None = None) -> int:
    value = _integer(os.environ if env is None else env, "TRELLIS2_GPU_MEMORY_MIB", DEFAULT_GPU_MEMORY_MIB)
    if not 4096 <= value <= 512 * 1024:
        raise ConfigError(f"TRELLIS2_GPU_MEMORY_MIB must lie in 4096..524288, got {value}")
    return value


def rembg_model_from_env(env: Mapping[str, str] | None = None) -> str:
    """TRELLIS2_REMBG_MODEL (read at deploy time, passed to the containers): the background-removal weights."""
    value = _text(os.environ if env is None else env, "TRELLIS2_REMBG_MODEL") or DEFAULT_REMBG_MODEL
    if value not in REMBG_MODELS:
        raise ConfigError(f"TRELLIS2_REMBG_MODEL must be one of {', '.join(REMBG_MODELS)}, got {value!r}")
    return value


def hf_revisions_from_env(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """HF_MODEL_REVISIONS, with TRELLIS2_HF_REVISIONS="repo@commit,repo@commit" overriding single entries;
    of the background-removal models, only the one TRELLIS2_REMBG_MODEL chooses."""
    env = os.environ if env is None else env
    chosen = rembg_model_from_env(env)
    revisions = {repo: commit for repo, commit in HF_MODEL_REVISIONS.items()
                 if repo not in REMBG_MODELS or repo == chosen}
    raw = _text(env, "TRELLIS2_HF_REVISIONS")
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        repo, _, commit = item.strip().partition("@")
        if repo in REMBG_MODELS and repo != chosen:
            continue  # a pin of the model not chosen: nothing to download or load
        if repo not in revisions:
            raise ConfigError(f"TRELLIS2_HF_REVISIONS: unknown model {repo!r}; known: {', '.join(revisions)}")
        if not _COMMIT_PATTERN.fullmatch(commit):
            raise ConfigError(f"TRELLIS2_HF_REVISIONS: {repo} needs a full 40-hex commit, got {commit!r}")
        revisions[repo] = commit
    for repo, commit in revisions.items():
        if commit is not None and not _COMMIT_PATTERN.fullmatch(commit):
            raise ConfigError(f"HF_MODEL_REVISIONS[{repo!r}] must be a full 40-hex commit or None, got {commit!r}")
    return revisions
