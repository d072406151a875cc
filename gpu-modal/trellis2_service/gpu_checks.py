"""`modal run -m trellis2_service.modal_app::verify`: proves a deployment by running it, inside the GPU image.

Steps, in order (a step whose prerequisite failed is SKIPPED, which fails the verdict too):
 1. CUDA and the device name;  2. every runtime module imports (the PBR preview needs nvdiffrec_render and
 utils3d, not only cumesh/flex_gemm/o_voxel);  3. the image was built from the pinned commits;  4. cv2 decodes
 the HDRI (not only finds it);  5. the gated models are readable with HF_TOKEN;  6. the weights are on the
 Volume;  7. the pipeline loads;  8. the 512 pipeline runs on a bundled image;  9. a short preview renders
 and encodes; 10. a GLB exports at texture 512 (and parses).
Each line gives the step's seconds and peak GPU memory. The real backend (backends/trellis2.py) does the
work, so verify exercises the code the service runs. The runner, report and verdict are plain code,
tested offline with fakes (tests/test_gpu_checks.py).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
VERIFY_IMAGE = ASSETS_DIR / "verify-product.jpg"  # opaque: background removal must run (tools/make_verify_photo.py)
BUILD_INFO_FILE = Path("/opt/trellis2-build.json")
GATED_MODELS = (
    "microsoft/TRELLIS.2-4B",
    "facebook/dinov3-vitl16-pretrain-lvd1689m",
    "briaai/RMBG-2.0",  # CC BY-NC 4.0: non-commercial use only
)
# Everything the worker imports at run time (module, what it is for).
RUNTIME_MODULES = (
    ("torch", "tensors"), ("flash_attn", "attention (ATTN_BACKEND=flash_attn)"),
    ("nvdiffrast.torch", "rasteriser"), ("nvdiffrec_render", "PBR lighting of the preview"),
    ("utils3d", "cameras of the preview"), ("cumesh", "mesh clean-up, BVH, UV atlas"),
    ("flex_gemm", "sparse convolutions"), ("o_voxel", "GLB extraction"),
    ("trellis2.pipelines", "the pipeline"), ("cv2", "HDRI and inpainting"), ("trimesh", "GLB export"),
    ("imageio", "image I/O"), ("av", "preview MP4"),
)
VERIFY_PREVIEW_FRAMES = 8
VERIFY_TEXTURE_SIZE = 512
VERIFY_DECIMATION_TARGET = 100_000
GIB = 1024**3


class MemoryProbe(Protocol):
    def reset(self) -> None: ...

    def peak_bytes(self) -> int | None: ...


class NoGpuMemory:
    def reset(self) -> None:
        pass

    def peak_bytes(self) -> int | None:
        return None


class TorchMemory:
    """Peak allocated CUDA memory per step (torch's own counter)."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def reset(self) -> None:
        self.torch.cuda.reset_peak_memory_stats()

    def peak_bytes(self) -> int | None:
        return int(self.torch.cuda.max_memory_allocated())


@dataclass
class Step:
    name: str
    run: Callable[[], str]  # returns a detail line; raises on failure
    needs: tuple[str, ...] = ()


@dataclass
class StepResult:
    name: str
    status: str  # PASSED, FAILED, SKIPPED
    detail: str
    seconds: float
    peak_bytes: int | None


@dataclass
class Report:
    results: list[StepResult] = field(default_factory=list)
    header: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(result.status == "PASSED" for result in self.results)

    def lines(self) -> list[str]:
        lines = list(self.header)
        for result in self.results:
            memory = f"{result.peak_bytes / GIB:6.2f} GiB" if result.peak_bytes is not None else "     - GiB"
            lines.append(f"{result.status:<7} {result.name:<28} {result.seconds:8.2f} s  peak {memory}  {result.detail}")
        total = sum(result.seconds for result in self.results)
        lines.append(f"total {total:.1f} s")
        lines.append(f"VERDICT: {'PASSED' if self.passed else 'FAILED'}")
        return lines


def run_steps(steps: Sequence[Step], *, memory: MemoryProbe | None = None,
              clock: Callable[[], float] = time.perf_counter) -> Report:
    """Run every step (never raising), timing each and reading its peak GPU memory."""
    memory = memory or NoGpuMemory()
    report = Report()
    status_of: dict[str, str] = {}
    for step in steps:
        missing = [need for need in step.needs if status_of.get(need) != "PASSED"]
        if missing:
            result = StepResult(step.name, "SKIPPED", f"needs {', '.join(missing)}", 0.0, None)
        else:
            memory.reset()
            started = clock()
            try:
                status, detail = "PASSED", step.run()
            except Exception as exc:  # a failed step is a line in the report, not a crash of the report
                status, detail = "FAILED", f"{type(exc).__name__}: {exc}"
            seconds = clock() - started
            try:
                peak = memory.peak_bytes()
            except Exception:
                peak = None
            result = StepResult(step.name, status, detail, seconds, peak)
        status_of[step.name] = result.status
        report.results.append(result)
    return report


# --- The checks ------------------------------------------------------------------------------------------
def check_module(name: str) -> Callable[[], str]:
    def check() -> str:
        module = importlib.import_module(name)
        return getattr(module, "__version__", "") or "imported"

    return check


def check_build_commits(expected: dict[str, str], info_file: Path = BUILD_INFO_FILE) -> Callable[[], str]:
    """The commits the image recorded at build time must be the pinned ones."""

    def check() -> str:
        try:
            built = json.loads(info_file.read_text())["commits"]
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeError(f"no build record at {info_file} ({type(exc).__name__})") from None
        wrong = [f"{name} built {built.get(name)!r}, pinned {commit}" for name, commit in expected.items()
                 if built.get(name) != commit]
        if wrong:
            raise RuntimeError("; ".join(wrong))
        return " ".join(f"{name}={commit}" for name, commit in built.items())

    return check


_AUTH_CHECK_SCRIPT = (
    "import sys, huggingface_hub\n"
    "try:\n"
    "    huggingface_hub.auth_check(sys.argv[1])\n"
    "except Exception as exc:\n"
    "    print(type(exc).__name__); sys.exit(1)\n"
)


def online_auth_check(repo_id: str) -> None:
    """huggingface_hub.auth_check in a child process without HF_HUB_OFFLINE: the GPU image sets it (weights
    come from the Volume only), and huggingface_hub reads it once, at import, refusing every request."""
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    done = subprocess.run([sys.executable, "-c", _AUTH_CHECK_SCRIPT, repo_id], env=env, capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        error_lines = done.stderr.strip().splitlines()
        raise RuntimeError(done.stdout.strip() or (error_lines[-1] if error_lines else "auth check failed"))


def check_model_access(repo_id: str, auth_check: Callable[[str], None] = online_auth_check) -> Callable[[], str]:
    license_page = f"https://huggingface.co/{repo_id}"

    def check() -> str:
        if not os.environ.get("HF_TOKEN"):
            raise RuntimeError("HF_TOKEN is not set (Modal secret `huggingface`)")
        try:
            auth_check(repo_id)
        except Exception as exc:  # GatedRepoError, RepositoryNotFoundError, HTTP errors
            raise RuntimeError(f"{exc}: accept the license at {license_page} with the token's account") from None
        return "readable with HF_TOKEN"

    return check


class PipelineRun:
    """Steps 7-10 on the real backend, sharing the mesh and state between them."""

    def __init__(self, make_backend: Callable[[], Any], image_path: Path = VERIFY_IMAGE) -> None:
        self.make_backend = make_backend
        self.image_path = image_path
        self.backend: Any = None
        self.mesh: Any = None
        self.state: Any = None

    def load(self) -> str:
        self.backend = self.make_backend()
        info = self.backend.load()
        return f"loaded on {info.device} (low_vram={getattr(self.backend, 'low_vram', '?')})"

    def generate(self) -> str:
        from PIL import Image

        from .backends.base import GenerateParams

        image = Image.open(self.image_path)
        image.load()
        self.mesh, self.state = self.backend.generate_mesh(image, GenerateParams(pipeline_type="512", render_preview=False))
        faces = self.state.arrays["faces"].shape[0]
        voxels = self.state.arrays["coords"].shape[0]
        return f"pipeline 512 on {self.image_path.name}: {faces} faces, {voxels} voxels"

    def preview(self) -> str:
        import av

        mp4 = self.backend.render_preview(self.mesh)
        with av.open(io.BytesIO(mp4)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        if frames != self.backend.preview_frames:
            raise RuntimeError(f"{frames} frames decoded, {self.backend.preview_frames} rendered")
        return f"{frames} frames {size}, {len(mp4)} bytes"

    def glb(self) -> str:
        import trimesh

        from .backends.base import ExtractParams

        params = ExtractParams(decimation_target=VERIFY_DECIMATION_TARGET, texture_size=VERIFY_TEXTURE_SIZE)
        glb = self.backend.extract_glb(self.state, params)
        if glb[:4] != b"glTF":
            raise RuntimeError("not a GLB")
        scene = trimesh.load(io.BytesIO(glb), file_type="glb", force="scene")
        faces = sum(len(geometry.faces) for geometry in scene.geometry.values())
        return f"texture {VERIFY_TEXTURE_SIZE}: {len(glb)} bytes, {faces} faces"


def verify_steps(*, expected_commits: dict[str, str], hdri_path: str, require_weights: Callable[[], Any],
                 make_backend: Callable[[], Any]) -> list[Step]:
    def cuda() -> str:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"torch {torch.__version__} sees no CUDA device")
        return f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, torch {torch.__version__}"

    def hdri() -> str:
        from .backends.trellis2_io import read_hdri_rgb

        rgb = read_hdri_rgb(hdri_path)
        return f"{hdri_path}: {rgb.shape[1]}x{rgb.shape[0]} float32, max {float(rgb.max()):.1f}"

    def weights() -> str:
        models = require_weights()
        return " ".join(f"{repo}@{commit[:12]}" for repo, commit in models.items())

    run = PipelineRun(make_backend)
    module_steps = [Step(f"import {name}", check_module(name)) for name, _ in RUNTIME_MODULES]
    imports = tuple(step.name for step in module_steps)
    return [
        Step("CUDA", cuda),
        *module_steps,
        Step("built from pinned commits", check_build_commits(expected_commits)),
        Step("HDRI decodes", hdri, needs=("import cv2",)),
        *[Step(f"HF access {repo}", check_model_access(repo)) for repo in GATED_MODELS],
        Step("weights on the Volume", weights),
        Step("load pipeline", run.load, needs=("CUDA", *imports, "HDRI decodes", "weights on the Volume")),
        Step("generate 512", run.generate, needs=("load pipeline",)),
        Step("render preview", run.preview, needs=("generate 512",)),
        Step("export GLB (texture 512)", run.glb, needs=("generate 512",)),
    ]


def run_verify(steps: Sequence[Step], *, memory: MemoryProbe | None = None, header: Sequence[str] = (),
               print_line: Callable[[str], None] = print) -> bool:
    report = run_steps(steps, memory=memory)
    report.header = list(header)
    for line in report.lines():
        print_line(line)
    return report.passed


def torch_memory_or_none() -> MemoryProbe:
    try:
        import torch

        return TorchMemory(torch) if torch.cuda.is_available() else NoGpuMemory()
    except Exception:
        return NoGpuMemory()
