"""`modal run -m trellis2_service.modal_app::verify`: proves a deployment by running it, inside the GPU image.

Steps, in order (a step whose prerequisite failed is SKIPPED, which fails the verdict too):
 - CUDA and the device name; every runtime module imports; the image was built from the pinned commits;
   cv2 decodes the HDRI; the gated models are readable with HF_TOKEN; the weights are on the Volume;
 - the pipeline loads (low_vram off), naming the background-removal weights it loaded;
 - an OPAQUE JPEG product photo (assets/verify-product.jpg, made by tools/make_verify_photo.py) through the
   512, 1024_cascade and 1536_cascade pipelines, each timed with its peak GPU memory; background removal
   must have run (the photo has no alpha);
 - a short preview renders and encodes; the three presets extracted one by one, then in one call
   (extract_glbs: the saving, measured), the quality one at 1,000,000 faces / 4096 px; the split extraction
   agrees with upstream's own to_glb;
 - the real 1024_cascade state through the codec (sizes, seconds, arrays equal after the round trip);
 - a Volume round trip (write, commit, reload, read) and a modal.Dict round trip (put-if-absent);
 - one job through the DEPLOYED API (submit with an Idempotency-Key, replay it, long-poll, download, an
   extract job, the GLB's sha256 against X-Glb-Sha256), run beside the GPU steps by a CPU function.
The report is a table (step, seconds, peak GPU MiB, result) and a verdict. The real backend does the GPU
work, so verify exercises the code the service runs. Runner, report, verdict and the API walk are plain
code, tested offline with fakes and the local service (tests/test_gpu_checks.py).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
VERIFY_IMAGE = ASSETS_DIR / "verify-product.jpg"  # opaque: background removal must run (tools/make_verify_photo.py)
BUILD_INFO_FILE = Path("/opt/trellis2-build.json")
GATED_MODELS = (
    "microsoft/TRELLIS.2-4B",
    "facebook/dinov3-vitl16-pretrain-lvd1689m",
    "briaai/RMBG-2.0",  # CC BY-NC 4.0: non-commercial use only; only when it is the chosen rembg model
)
VERIFY_PIPELINES = ("512", "1024_cascade", "1536_cascade")
# The three presets of a SKU (UPSTREAM-FACTS, "Presets"): name -> (decimation_target, texture_size)
PRESETS = {"fast": (100_000, 1024), "balanced": (500_000, 2048), "quality": (1_000_000, 4096)}
VERIFY_PROXY_SECRET = "trellis2-verify-proxy"
VERIFY_PROXY_KEYS = ("TRELLIS2_VERIFY_MODAL_KEY", "TRELLIS2_VERIFY_MODAL_SECRET")
PROXY_SECRET_HOWTO = (
    f"create it once: modal secret create {VERIFY_PROXY_SECRET} {VERIFY_PROXY_KEYS[0]}=wk-... "
    f"{VERIFY_PROXY_KEYS[1]}=ws-... (a proxy auth token: `modal workspace proxy-tokens` or the dashboard, "
    "Settings > Proxy Auth Tokens)")
MIB = 1024**2
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
        width = max([len("step")] + [len(result.name) for result in self.results])
        lines = list(self.header)
        lines.append(f"{'step':<{width}}  {'seconds':>8}  {'peak GPU MiB':>12}  result")
        for result in self.results:
            memory = f"{result.peak_bytes / MIB:12.0f}" if result.peak_bytes is not None else f"{'-':>12}"
            lines.append(f"{result.name:<{width}}  {result.seconds:8.2f}  {memory}  {result.status}: {result.detail}")
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
    """The GPU steps on the real backend, sharing meshes, states and GLBs between them."""

    def __init__(self, make_backend: Callable[[], Any], image_path: Path = VERIFY_IMAGE) -> None:
        self.make_backend = make_backend
        self.image_path = image_path
        self.backend: Any = None
        self.mesh: Any = None  # the last generated mesh (GPU tensors), for the preview
        self.states: dict[str, Any] = {}
        self.single_glbs: dict[str, bytes] = {}
        self.single_seconds: dict[str, float] = {}

    def load(self) -> str:
        self.backend = self.make_backend()
        info = self.backend.load()
        configured = getattr(self.backend, "rembg_model_configured", None)
        return (f"loaded on {info.device} (low_vram={getattr(self.backend, 'low_vram', '?')}); background removal: "
                f"{getattr(self.backend, 'rembg_model', '?')} (pipeline.json names {configured})")

    def photo(self) -> Any:
        from PIL import Image

        image = Image.open(self.image_path)
        image.load()
        if image.mode != "RGB" or image.format != "JPEG":
            raise RuntimeError(f"{self.image_path.name} is {image.format} {image.mode}: verify needs an opaque JPEG")
        return image

    def generate(self, pipeline_type: str) -> Callable[[], str]:
        def step() -> str:
            from .backends.base import GenerateParams

            removals_before = getattr(self.backend, "background_removals", 0)
            self.mesh = None  # release the previous pipeline's mesh first
            self.mesh, state = self.backend.generate_mesh(
                self.photo(), GenerateParams(pipeline_type=pipeline_type, render_preview=False))
            self.states[pipeline_type] = state
            removals = getattr(self.backend, "background_removals", 0) - removals_before
            if removals < 1:
                raise RuntimeError("background removal did not run on an opaque photo")
            faces, voxels = state.arrays["faces"].shape[0], state.arrays["coords"].shape[0]
            return (f"{self.image_path.name} (opaque JPEG, background removed by {self.backend.rembg_model}): "
                    f"{faces} faces, {voxels} voxels")

        return step

    def preview(self) -> str:
        import av

        try:
            mp4 = self.backend.render_preview(self.mesh)
        finally:
            self.mesh = None  # the mesh's GPU memory is not needed by the steps after this one
        with av.open(io.BytesIO(mp4)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        if frames != self.backend.preview_frames:
            raise RuntimeError(f"{frames} frames decoded, {self.backend.preview_frames} rendered")
        return f"{frames} frames {size}, {len(mp4)} bytes, {getattr(self.backend, 'cpu_threads', 1)} encoder threads"

    def extract_one(self, preset: str, clock: Callable[[], float] = time.perf_counter) -> Callable[[], str]:
        def step() -> str:
            from .backends.base import ExtractParams

            faces_target, texture = PRESETS[preset]
            started = clock()
            glb = self.backend.extract_glb(self.state_for_extraction(), ExtractParams(decimation_target=faces_target,
                                                                                      texture_size=texture))
            self.single_seconds[preset] = clock() - started
            self.single_glbs[preset] = glb
            return describe_glb(glb, faces_target, texture)

        return step

    def extract_all(self, clock: Callable[[], float] = time.perf_counter) -> str:
        from .backends.base import ExtractParams

        params = [ExtractParams(decimation_target=faces, texture_size=texture) for faces, texture in PRESETS.values()]
        started = clock()
        glbs = self.backend.extract_glbs(self.state_for_extraction(), params)
        seconds = clock() - started
        details = [f"{name} {describe_glb(glb, *PRESETS[name])}" for name, glb in zip(PRESETS, glbs)]
        one_by_one = sum(self.single_seconds.get(name, 0.0) for name in PRESETS)
        saving = f"; one by one {one_by_one:.1f} s, in one call {seconds:.1f} s (x{seconds / one_by_one:.2f})" \
            if one_by_one else ""
        return "; ".join(details) + saving

    def matches_upstream(self) -> str:
        """extract_glbs' split of to_glb against upstream's to_glb in one piece, on the fast preset: same
        face count (2 %) and the same mean base colour (3 levels of 255)."""
        from .backends.base import ExtractParams

        faces_target, texture = PRESETS["fast"]
        params = ExtractParams(decimation_target=faces_target, texture_size=texture)
        ours = self.single_glbs.get("fast") or self.backend.extract_glb(self.state_for_extraction(), params)
        theirs = self.backend.upstream_glb(self.state_for_extraction(), params)
        (our_faces, our_colour), (their_faces, their_colour) = glb_summary(ours), glb_summary(theirs)
        if abs(our_faces - their_faces) > 0.02 * their_faces or abs(our_colour - their_colour) > 3.0:
            raise RuntimeError(f"split: {our_faces} faces, mean colour {our_colour:.1f}; upstream: {their_faces} "
                               f"faces, mean colour {their_colour:.1f}")
        return f"{our_faces} vs {their_faces} faces, mean base colour {our_colour:.1f} vs {their_colour:.1f}"

    def state_for_extraction(self) -> Any:
        return self.states.get("1024_cascade") or next(iter(self.states.values()))

    def codec(self, secret: bytes, clock: Callable[[], float] = time.perf_counter) -> str:
        """The real 1024_cascade state through the service's codec: sizes, seconds, and nothing lost."""
        import numpy as np

        from .state_codec import decode_state, encode_state

        state = self.state_for_extraction()
        raw = sum(array.nbytes for array in state.arrays.values())
        started = clock()
        blob = encode_state(state, secret)
        encoded = clock()
        back = decode_state(blob, secret, max_bytes=max(raw * 2, 1 << 20))
        decoded = clock()
        for name, array in state.arrays.items():
            if not np.array_equal(array, back.arrays[name]):
                raise RuntimeError(f"{name} differs after the round trip")
        if back.meta != state.meta:
            raise RuntimeError("meta differs after the round trip")
        return (f"{raw / MIB:.1f} MiB of arrays -> {len(blob) / MIB:.1f} MiB signed (x{len(blob) / raw:.2f}); "
                f"encode {encoded - started:.2f} s, decode {decoded - encoded:.2f} s; arrays equal")


def describe_glb(glb: bytes, faces_target: int, texture: int) -> str:
    if glb[:4] != b"glTF":
        raise RuntimeError("not a GLB")
    faces, _ = glb_summary(glb)
    if faces > faces_target * 1.05:
        raise RuntimeError(f"{faces} faces for a target of {faces_target}")
    return f"{faces_target}/{texture}px: {len(glb) / MIB:.1f} MiB, {faces} faces"


def glb_summary(glb: bytes) -> tuple[int, float]:
    """(faces, mean base-colour value) of a GLB, through trimesh."""
    import numpy as np
    import trimesh

    scene = trimesh.load(io.BytesIO(glb), file_type="glb", force="scene")
    faces = sum(len(geometry.faces) for geometry in scene.geometry.values())
    colours = [np.asarray(geometry.visual.material.baseColorTexture.convert("RGB"), dtype=np.float64).mean()
               for geometry in scene.geometry.values()
               if getattr(getattr(geometry.visual, "material", None), "baseColorTexture", None) is not None]
    return faces, float(np.mean(colours)) if colours else 0.0


# --- Modal's primitives: a Volume and a Dict round trip ------------------------------------------------------
def check_volume_round_trip(root: Path, commit: Callable[[], None], reload: Callable[[], None]) -> Callable[[], str]:
    """Write a scratch file, commit, reload, read it back, delete it (and commit the deletion)."""

    def check() -> str:
        folder = Path(root) / "verify"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}.txt"
        payload = f"verify {time.time()}".encode()
        path.write_bytes(payload)
        commit()
        reload()
        try:
            read = path.read_bytes()
        except OSError as exc:
            raise RuntimeError(f"{path} written and committed, but not readable after reload: {exc}") from None
        if read != payload:
            raise RuntimeError(f"{path} reads back {len(read)} other bytes")
        path.unlink()
        commit()
        return f"{path.relative_to(root)}: written, committed, reloaded, read, removed"

    return check


def check_dict_round_trip(store: Any) -> Callable[[], str]:
    """put, get, and put-if-absent (`put(key, value, skip_if_exists=True)`) answering False when the key
    exists: the atomic binding the job ledger stands on."""

    def check() -> str:
        key = f"verify:{uuid.uuid4().hex}"
        try:
            store.put(key, "first")
            if store.get(key) != "first":
                raise RuntimeError("get does not return what put wrote")
            if store.put(key, "second", skip_if_exists=True) is not False:
                raise RuntimeError("put(skip_if_exists=True) on an existing key did not answer False")
            if store.get(key) != "first":
                raise RuntimeError("put(skip_if_exists=True) overwrote the existing value")
            fresh = f"{key}:fresh"
            if store.put(fresh, "only", skip_if_exists=True) is not True:
                raise RuntimeError("put(skip_if_exists=True) on a new key did not answer True")
            store.pop(fresh)
        finally:
            store.pop(key, None)
        return "put, get, put-if-absent refused on an existing key and accepted on a new one"

    return check


# --- One job through the deployed API ------------------------------------------------------------------------
HttpAnswer = tuple[int, Mapping[str, str], bytes]  # status, headers (lower-case names), body
Http = Callable[[str, str, Mapping[str, str], bytes | None], HttpAnswer]


def urllib_http(timeout: float = 60.0) -> Http:
    import urllib.error
    import urllib.request

    def call(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> HttpAnswer:
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    return call


def proxy_headers(env: Mapping[str, str]) -> dict[str, str]:
    """Modal-Key/Modal-Secret from the optional secret; a clear failure (with how to create it) without it."""
    key, secret = (env.get(name, "").strip() for name in VERIFY_PROXY_KEYS)
    if not (key and secret):
        raise RuntimeError(f"no proxy auth token for the deployed API (Modal secret `{VERIFY_PROXY_SECRET}`): "
                           + PROXY_SECRET_HOWTO)
    return {"Modal-Key": key, "Modal-Secret": secret}


class DeployedJobCheck:
    """Submit with an Idempotency-Key, replay the key (same job_id, Idempotency-Replayed: true), long-poll
    until final, download the result; then an extract job on the generated state and its GLB, whose sha256
    must equal X-Glb-Sha256 and the status' glb_sha256."""

    def __init__(self, http: Http, base_url: str, auth: Mapping[str, str], image: bytes, *,
                 poll_wait: int = 20, deadline_seconds: float = 1500.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.http, self.base, self.auth, self.image = http, base_url.rstrip("/"), dict(auth), image
        self.poll_wait, self.deadline_seconds, self.clock = poll_wait, deadline_seconds, clock
        self.run_id = uuid.uuid4().hex[:12]

    def run(self) -> str:
        generate = {"image": base64.b64encode(self.image).decode(), "pipeline_type": "512",
                    "state_mode": "reference", "include_video": False}
        generate_job, replayed = self._submit_twice("/jobs/generate", generate, f"verify-{self.run_id}-generate")
        status = self._poll(generate_job)
        result = self._json(self._get(f"/jobs/{generate_job}/result", {}), "generate result")
        state_id = result.get("state_id")
        if not state_id:
            raise RuntimeError(f"the generate job's result has no state_id: {sorted(result)}")
        extract = {"state_id": state_id, "decimation_target": PRESETS["fast"][0], "texture_size": PRESETS["fast"][1]}
        extract_job, _ = self._submit_twice("/jobs/extract_glb", extract, f"verify-{self.run_id}-extract")
        extract_status = self._poll(extract_job)
        code, headers, glb = self._get(f"/jobs/{extract_job}/result", {"Accept": "model/gltf-binary"})
        if code != 200 or glb[:4] != b"glTF":
            raise RuntimeError(f"GET /jobs/{extract_job}/result: HTTP {code}, not a GLB ({glb[:80]!r})")
        digest = hashlib.sha256(glb).hexdigest()
        announced = {"X-Glb-Sha256": headers.get("x-glb-sha256"),
                     "status glb_sha256": (extract_status.get("result") or {}).get("glb_sha256")}
        wrong = {name: value for name, value in announced.items() if value != digest}
        if wrong:
            raise RuntimeError(f"GLB sha256 {digest} differs from {wrong}")
        return (f"{self.base}: generate {generate_job} ({status['status']}; replay {replayed}), extract "
                f"{extract_job}: GLB {len(glb)} bytes, sha256 {digest[:16]}... matches X-Glb-Sha256 and the status")

    def _submit_twice(self, route: str, body: dict, key: str) -> tuple[str, str]:
        payload = json.dumps(body).encode()
        headers = {**self.auth, "Content-Type": "application/json", "Idempotency-Key": key}
        first = self._json(self._checked("POST", route, headers, payload, expect=(202,)), f"POST {route}")
        code, replay_headers, replay_body = self._checked("POST", route, headers, payload, expect=(202,))
        second = self._json((code, replay_headers, replay_body), f"POST {route} (replay)")
        if second.get("job_id") != first.get("job_id"):
            raise RuntimeError(f"replaying key {key} gave job {second.get('job_id')}, not {first.get('job_id')}")
        if replay_headers.get("idempotency-replayed") != "true":
            raise RuntimeError(f"the replay of {route} lacks the header Idempotency-Replayed: true")
        return first["job_id"], "same job_id, Idempotency-Replayed: true"

    def _poll(self, job_id: str) -> dict:
        deadline = self.clock() + self.deadline_seconds
        while True:
            status = self._json(self._get(f"/jobs/{job_id}?wait={self.poll_wait}", {}), f"GET /jobs/{job_id}")
            if status.get("status") == "succeeded":
                return status
            if status.get("status") == "failed":
                raise RuntimeError(f"job {job_id} failed: {status.get('error')}")
            if self.clock() > deadline:
                raise RuntimeError(f"job {job_id} still {status.get('status')} after {self.deadline_seconds:.0f} s")

    def _get(self, route: str, headers: Mapping[str, str]) -> HttpAnswer:
        return self._checked("GET", route, {**self.auth, **headers}, None, expect=(200,))

    def _checked(self, method: str, route: str, headers: Mapping[str, str], body: bytes | None, *,
                 expect: tuple[int, ...]) -> HttpAnswer:
        code, answer_headers, answer = self.http(method, self.base + route, headers, body)
        if code not in expect:
            hint = " (proxy auth refused the token: check the secret's values)" if code == 401 else ""
            raise RuntimeError(f"{method} {route}: HTTP {code}{hint}: {answer[:300]!r}")
        return code, answer_headers, answer

    @staticmethod
    def _json(answer: HttpAnswer, what: str) -> dict:
        try:
            data = json.loads(answer[2])
        except ValueError:
            raise RuntimeError(f"{what}: not JSON ({answer[2][:120]!r})") from None
        if not isinstance(data, dict):
            raise RuntimeError(f"{what}: not a JSON object")
        return data


class Background:
    """Work started now, beside the GPU steps, whose outcome a later step reports (its start's failure too)."""

    def __init__(self, start: Callable[[], Callable[[], str]]) -> None:
        self._collect: Callable[[], str] | None = None
        self._error: BaseException | None = None
        try:
            self._collect = start()
        except Exception as exc:  # reported by the step, not raised here
            self._error = exc

    def result(self) -> str:
        if self._error is not None:
            raise RuntimeError(str(self._error)) from None
        assert self._collect is not None
        return self._collect()


def verify_steps(*, expected_commits: dict[str, str], hdri_path: str, require_weights: Callable[[], Any],
                 make_backend: Callable[[], Any], gated_models: Sequence[str] = GATED_MODELS,
                 state_secret: bytes = b"verify-state-secret-0123456789", volume_check: Callable[[], str] | None = None,
                 dict_check: Callable[[], str] | None = None, api_check: Background | None = None) -> list[Step]:
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

    def missing(what: str) -> Callable[[], str]:
        def fail() -> str:
            raise RuntimeError(f"{what} was not given to verify")

        return fail

    run = PipelineRun(make_backend)
    module_steps = [Step(f"import {name}", check_module(name)) for name, _ in RUNTIME_MODULES]
    imports = tuple(step.name for step in module_steps)
    generate_steps = [Step(f"generate {pipeline}", run.generate(pipeline), needs=("load pipeline",))
                      for pipeline in VERIFY_PIPELINES]
    return [
        Step("CUDA", cuda),
        *module_steps,
        Step("built from pinned commits", check_build_commits(expected_commits)),
        Step("HDRI decodes", hdri, needs=("import cv2",)),
        *[Step(f"HF access {repo}", check_model_access(repo)) for repo in gated_models],
        Step("weights on the Volume", weights),
        Step("load pipeline", run.load, needs=("CUDA", *imports, "HDRI decodes", "weights on the Volume")),
        *generate_steps,
        Step("render preview", run.preview, needs=("generate 1536_cascade",)),
        *[Step(f"extract {name} alone", run.extract_one(name), needs=("generate 1024_cascade",)) for name in PRESETS],
        Step("extract 3 presets, one call", run.extract_all, needs=("generate 1024_cascade",)),
        Step("split matches upstream to_glb", run.matches_upstream, needs=("generate 1024_cascade",)),
        Step("state through the codec", lambda: run.codec(state_secret), needs=("generate 1024_cascade",)),
        Step("Volume round trip", volume_check or missing("a Volume")),
        Step("Dict round trip", dict_check or missing("a Dict")),
        Step("deployed API: one job end to end", api_check.result if api_check else missing("the deployed API")),
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
