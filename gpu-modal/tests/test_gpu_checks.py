"""verify's runner, report and verdict, offline: fake steps, a fake GPU memory probe, a fake backend."""

import json

import numpy as np

from trellis2_service import gpu_checks
from trellis2_service.backends.base import GenerationState, LoadInfo
from trellis2_service.gpu_checks import Step, run_steps, run_verify


class FakeMemory:
    def __init__(self):
        self.peaks = iter([1 * gpu_checks.GIB, 3 * gpu_checks.GIB, 2 * gpu_checks.GIB, 5 * gpu_checks.GIB])
        self.resets = 0

    def reset(self):
        self.resets += 1

    def peak_bytes(self):
        return next(self.peaks)


def ticking_clock(step=0.5):
    now = [0.0]

    def clock():
        now[0] += step
        return now[0]

    return clock


def fail(message):
    def run():
        raise RuntimeError(message)

    return run


def test_all_passed_steps_give_passed_with_seconds_and_peak_memory():
    memory = FakeMemory()
    report = run_steps([Step("a", lambda: "ok a"), Step("b", lambda: "ok b", needs=("a",))], memory=memory,
                       clock=ticking_clock())
    assert report.passed and memory.resets == 2
    lines = report.lines()
    assert lines[0].startswith("PASSED") and "a" in lines[0] and "0.50 s" in lines[0] and "1.00 GiB" in lines[0]
    assert "3.00 GiB" in lines[1] and "ok b" in lines[1]
    assert lines[-1] == "VERDICT: PASSED"


def test_a_failure_fails_the_verdict_and_skips_what_needs_it():
    report = run_steps([Step("load", fail("no weights")), Step("generate", lambda: "x", needs=("load",)),
                        Step("independent", lambda: "fine")])
    statuses = {result.name: result.status for result in report.results}
    assert statuses == {"load": "FAILED", "generate": "SKIPPED", "independent": "PASSED"}
    assert not report.passed and report.lines()[-1] == "VERDICT: FAILED"
    assert "RuntimeError: no weights" in report.lines()[0] and "needs load" in report.lines()[1]


def test_no_steps_is_not_a_pass():
    assert run_steps([]).passed is False


def test_the_real_step_list_fails_cleanly_on_a_machine_without_a_gpu(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    steps = gpu_checks.verify_steps(expected_commits={"TRELLIS.2": "1" * 40}, hdri_path=str(tmp_path / "none.exr"),
                                    require_weights=fail("run `modal run ...::download_weights`"),
                                    make_backend=lambda: None)
    names = [step.name for step in steps]
    for module in ("torch", "flash_attn", "nvdiffrast.torch", "nvdiffrec_render", "utils3d", "cumesh",
                   "flex_gemm", "o_voxel", "trellis2.pipelines", "cv2", "trimesh", "imageio"):
        assert f"import {module}" in names, module
    assert names[-4:] == ["load pipeline", "generate 512", "render preview", "export GLB (texture 512)"]
    lines = []
    assert run_verify(steps, print_line=lines.append, header=["verify on test"]) is False
    text = "\n".join(lines)
    assert lines[0] == "verify on test" and lines[-1] == "VERDICT: FAILED"
    assert "HF_TOKEN is not set" in text and "download_weights" in text
    assert any(line.startswith("SKIPPED load pipeline") for line in lines)
    assert any(line.startswith("FAILED  import torch") for line in lines) or "torch" in sys.modules


def test_build_commits_are_compared_with_the_pins(tmp_path):
    record = tmp_path / "build.json"
    record.write_text(json.dumps({"commits": {"CuMesh": "a" * 40, "FlexGEMM": "b" * 40}}))
    assert gpu_checks.check_build_commits({"CuMesh": "a" * 40, "FlexGEMM": "b" * 40}, record)().startswith("CuMesh=")
    report = run_steps([Step("pins", gpu_checks.check_build_commits({"CuMesh": "a" * 40, "FlexGEMM": "c" * 40}, record))])
    assert not report.passed and "FlexGEMM built" in report.results[0].detail
    missing = run_steps([Step("pins", gpu_checks.check_build_commits({}, tmp_path / "absent.json"))])
    assert "no build record" in missing.results[0].detail


def test_gated_model_failure_names_the_license_page(monkeypatch):
    def refuse(repo_id):
        raise RuntimeError("GatedRepoError")

    monkeypatch.setenv("HF_TOKEN", "hf_test")
    report = run_steps([Step("access", gpu_checks.check_model_access("briaai/RMBG-2.0", refuse))])
    detail = report.results[0].detail
    assert not report.passed and "https://huggingface.co/briaai/RMBG-2.0" in detail and "GatedRepoError" in detail
    assert gpu_checks.check_model_access("briaai/RMBG-2.0", lambda repo: None)() == "readable with HF_TOKEN"


def test_the_access_check_runs_online_even_in_the_offline_gpu_image(monkeypatch, tmp_path):
    """A stand-in huggingface_hub in a child process: it must see no HF_HUB_OFFLINE, and its error name
    must come back."""
    fake = tmp_path / "huggingface_hub.py"
    fake.write_text("import os\n"
                    "def auth_check(repo):\n"
                    "    if os.environ.get('HF_HUB_OFFLINE'): raise RuntimeError('offline')\n"
                    "    if repo != 'ok/model': raise type('GatedRepoError', (Exception,), {})()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gpu_checks.online_auth_check("ok/model")
    try:
        gpu_checks.online_auth_check("gated/model")
    except RuntimeError as error:
        assert str(error) == "GatedRepoError"
    else:
        raise AssertionError("a refused check must raise")


class FakeBackend:
    """What PipelineRun needs of Trellis2Backend: load, generate_mesh, render_preview, extract_glb."""

    preview_frames = 4
    low_vram = False

    def __init__(self):
        self.calls = []

    def load(self):
        self.calls.append("load")
        return LoadInfo(backend="trellis2", device="A100-80GB", load_seconds=1.0, cold_start=True)

    def generate_mesh(self, image, params):
        self.calls.append(("generate", params.pipeline_type, params.render_preview, image.size))
        arrays = {"faces": np.zeros((12, 3), np.int32), "coords": np.zeros((7, 3), np.int32)}
        return object(), GenerationState(backend="trellis2", arrays=arrays)

    def render_preview(self, mesh):
        from trellis2_service.backends.trellis2_io import encode_preview_mp4

        self.calls.append("preview")
        return encode_preview_mp4([np.full((48, 64, 3), 40 * i, np.uint8) for i in range(self.preview_frames)])

    def extract_glb(self, state, params):
        import trimesh

        self.calls.append(("glb", params.texture_size))
        return trimesh.creation.box().export(file_type="glb")


def test_the_pipeline_steps_run_the_backend_in_order_on_the_bundled_image():
    backend = FakeBackend()
    run = gpu_checks.PipelineRun(lambda: backend)
    steps = [Step("load", run.load), Step("generate", run.generate, needs=("load",)),
             Step("preview", run.preview, needs=("generate",)), Step("glb", run.glb, needs=("generate",))]
    report = run_steps(steps)
    assert report.passed, report.lines()
    assert backend.calls[0] == "load"
    assert backend.calls[1][:3] == ("generate", "512", False) and gpu_checks.VERIFY_IMAGE.is_file()
    assert backend.calls[2:] == ["preview", ("glb", 512)]
    assert "4 frames 64x48" in report.results[2].detail and "12 faces" in report.results[3].detail


def test_a_preview_with_missing_frames_fails():
    backend = FakeBackend()
    run = gpu_checks.PipelineRun(lambda: backend)
    run.load(), run.generate()
    backend.preview_frames = 5  # claims 5, the fake encodes 5... then renders fewer:
    backend.render_preview = lambda mesh: FakeBackend.render_preview(type("B", (), {"preview_frames": 3, "calls": []})(), mesh)
    report = run_steps([Step("preview", run.preview)])
    assert not report.passed and "3 frames decoded, 5 rendered" in report.results[0].detail
