"""verify's runner, report and verdict, offline: fake steps, a fake GPU memory probe, a fake backend."""

import json

import numpy as np
import pytest

from trellis2_service import gpu_checks
from trellis2_service.backends.base import GenerationState, LoadInfo
from trellis2_service.gpu_checks import Step, run_steps, run_verify


class FakeMemory:
    def __init__(self):
        self.peaks = iter([1 * (1024 * gpu_checks.MIB), 3 * (1024 * gpu_checks.MIB), 2 * (1024 * gpu_checks.MIB), 5 * (1024 * gpu_checks.MIB)])
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
    assert lines[0].split() == ["step", "seconds", "peak", "GPU", "MiB", "result"]
    assert lines[1].split() == ["a", "0.50", "1024", "PASSED:", "ok", "a"]
    assert lines[2].split() == ["b", "0.50", "3072", "PASSED:", "ok", "b"]
    assert lines[-1] == "VERDICT: PASSED"


def test_a_failure_fails_the_verdict_and_skips_what_needs_it():
    report = run_steps([Step("load", fail("no weights")), Step("generate", lambda: "x", needs=("load",)),
                        Step("independent", lambda: "fine")])
    statuses = {result.name: result.status for result in report.results}
    assert statuses == {"load": "FAILED", "generate": "SKIPPED", "independent": "PASSED"}
    lines = report.lines()
    assert not report.passed and lines[-1] == "VERDICT: FAILED"
    assert "FAILED: RuntimeError: no weights" in lines[1] and "SKIPPED: needs load" in lines[2]
    assert lines[3].split()[-2:] == ["PASSED:", "fine"] and lines[1].split()[2] == "-"  # no GPU probe: "-"


def test_no_steps_is_not_a_pass():
    assert run_steps([]).passed is False


def test_the_real_step_list_fails_cleanly_on_a_machine_without_a_gpu(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("TRELLIS2_VERIFY_MODAL_KEY", raising=False)
    api = gpu_checks.Background(lambda: gpu_checks.DeployedJobCheck(
        None, "https://x", gpu_checks.proxy_headers({}), b"").run)
    steps = gpu_checks.verify_steps(expected_commits={"TRELLIS.2": "1" * 40}, hdri_path=str(tmp_path / "none.exr"),
                                    require_weights=fail("run `modal run ...::download_weights`"),
                                    make_backend=lambda: None, api_check=api)
    names = [step.name for step in steps]
    for module in ("torch", "flash_attn", "nvdiffrast.torch", "nvdiffrec_render", "utils3d", "cumesh",
                   "flex_gemm", "o_voxel", "trellis2.pipelines", "cv2", "trimesh", "imageio"):
        assert f"import {module}" in names, module
    assert names[names.index("load pipeline"):] == [
        "load pipeline", "generate 512", "generate 1024_cascade", "generate 1536_cascade", "render preview",
        "extract fast alone", "extract balanced alone", "extract quality alone", "extract 3 presets, one call",
        "split matches upstream to_glb", "state through the codec", "Volume round trip", "Dict round trip",
        "deployed API: one job end to end"]
    lines = []
    assert run_verify(steps, print_line=lines.append, header=["verify on test"]) is False
    text = "\n".join(lines)
    assert lines[0] == "verify on test" and lines[-1] == "VERDICT: FAILED"
    table = {line.split()[0] + " " + line.split()[1]: line for line in lines[2:-2]}
    assert len(lines) == 1 + 1 + len(steps) + 2  # header, column titles, every step, total, verdict
    assert "HF_TOKEN is not set" in text and "download_weights" in text
    assert "SKIPPED: needs" in table["load pipeline"] and "SKIPPED: needs load pipeline" in table["generate 1536_cascade"]
    assert "FAILED: RuntimeError: a Volume was not given" in table["Volume round"]
    # the deployed-API step fails (never silently passes) and says how to create the secret
    assert "modal secret create trellis2-verify-proxy TRELLIS2_VERIFY_MODAL_KEY=" in table["deployed API:"]


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
    """What PipelineRun needs of Trellis2Backend, with upstream's rule: background removal runs only for an
    image without alpha."""

    preview_frames = 4
    low_vram = False
    rembg_model = "ZhengPeng7/BiRefNet"
    rembg_model_configured = "briaai/RMBG-2.0"
    cpu_threads = 4

    def __init__(self):
        self.calls = []
        self.background_removals = 0

    def load(self):
        self.calls.append("load")
        return LoadInfo(backend="trellis2", device="A100-80GB", load_seconds=1.0, cold_start=True)

    def generate_mesh(self, image, params):
        self.calls.append(("generate", params.pipeline_type, params.render_preview, image.mode))
        if image.mode != "RGBA":
            self.background_removals += 1
        rng = np.random.default_rng(len(self.calls))
        arrays = {"faces": rng.integers(0, 9, (12, 3)).astype(np.int32), "coords": np.zeros((7, 3), np.int32),
                  "attrs": rng.random((7, 6)).astype(np.float32)}
        return object(), GenerationState(backend="trellis2", arrays=arrays, meta={"pipeline_type": params.pipeline_type})

    def render_preview(self, mesh):
        from trellis2_service.backends.trellis2_io import encode_preview_mp4

        self.calls.append("preview")
        return encode_preview_mp4([np.full((48, 64, 3), 40 * i, np.uint8) for i in range(self.preview_frames)])

    def extract_glb(self, state, params):
        self.calls.append(("glb", params.decimation_target, params.texture_size))
        return box_glb()

    def extract_glbs(self, state, params):
        self.calls.append(("glbs", [(p.decimation_target, p.texture_size) for p in params]))
        return [box_glb() for _ in params]

    def upstream_glb(self, state, params):
        self.calls.append(("upstream", params.decimation_target))
        return box_glb()


def box_glb():
    import trimesh

    return trimesh.creation.box().export(file_type="glb")


def pipeline_steps(run):
    return [Step("load", run.load), *[Step(f"generate {p}", run.generate(p), needs=("load",))
                                      for p in gpu_checks.VERIFY_PIPELINES],
            Step("preview", run.preview), *[Step(f"extract {name}", run.extract_one(name))
                                            for name in gpu_checks.PRESETS],
            Step("all", run.extract_all), Step("upstream", run.matches_upstream),
            Step("codec", lambda: run.codec(b"s" * 32))]


@pytest.fixture(scope="module")
def pipeline_run():
    """The verify pipeline's steps, run once on a fake backend: (the backend, the report)."""
    backend = FakeBackend()
    return backend, run_steps(pipeline_steps(gpu_checks.PipelineRun(lambda: backend)))


def test_the_pipeline_steps_pass(pipeline_run):
    _backend, report = pipeline_run
    assert report.passed, report.lines()


def test_the_pipeline_generates_every_pipeline_type_from_the_opaque_photo(pipeline_run):
    backend, _report = pipeline_run
    assert gpu_checks.VERIFY_IMAGE.suffix == ".jpg" and backend.background_removals == 3
    assert [call[1] for call in backend.calls if call[0] == "generate"] == ["512", "1024_cascade", "1536_cascade"]
    assert all(call[2] is False and call[3] == "RGB" for call in backend.calls if call[0] == "generate")


def test_the_pipeline_extracts_the_presets_together_and_the_1m_face_glb_alone(pipeline_run):
    backend, _report = pipeline_run
    assert ("glbs", [(100_000, 1024), (500_000, 2048), (1_000_000, 4096)]) in backend.calls
    assert ("glb", 1_000_000, 4096) in backend.calls  # the 1M-face / 4096 px extraction


def test_the_pipeline_steps_say_which_background_removal_ran(pipeline_run):
    details = {result.name: result.detail for result in pipeline_run[1].results}
    assert "background removal: ZhengPeng7/BiRefNet (pipeline.json names briaai/RMBG-2.0)" in details["load"]
    assert "background removed by ZhengPeng7/BiRefNet" in details["generate 1536_cascade"]


def test_the_pipeline_steps_describe_preview_extraction_and_codec(pipeline_run):
    details = {result.name: result.detail for result in pipeline_run[1].results}
    assert "4 frames 64x48" in details["preview"] and "4 encoder threads" in details["preview"]
    assert "one by one" in details["all"] and "12 faces" in details["extract quality"]
    assert "arrays equal" in details["codec"] and "MiB signed" in details["codec"]


def test_a_photo_whose_background_was_not_removed_fails():
    backend = FakeBackend()
    backend.generate_mesh = lambda image, params: (object(), GenerationState("trellis2", {
        "faces": np.zeros((1, 3), np.int32), "coords": np.zeros((1, 3), np.int32)}))
    run = gpu_checks.PipelineRun(lambda: backend)
    report = run_steps([Step("load", run.load), Step("generate", run.generate("512"))])
    assert not report.passed and "background removal did not run" in report.results[1].detail


def test_a_preview_with_missing_frames_fails():
    backend = FakeBackend()
    run = gpu_checks.PipelineRun(lambda: backend)
    run.load(), run.generate("512")()
    backend.preview_frames = 5  # claims 5, the fake encodes 5... then renders fewer:
    backend.render_preview = lambda mesh: FakeBackend.render_preview(type("B", (), {"preview_frames": 3, "calls": []})(), mesh)
    report = run_steps([Step("preview", run.preview)])
    assert not report.passed and "3 frames decoded, 5 rendered" in report.results[0].detail


def test_a_split_extraction_that_disagrees_with_upstream_fails():
    import trimesh

    backend = FakeBackend()
    backend.upstream_glb = lambda state, params: trimesh.creation.icosphere().export(file_type="glb")
    run = gpu_checks.PipelineRun(lambda: backend)
    run.load(), run.generate("1024_cascade")()
    report = run_steps([Step("upstream", run.matches_upstream)])
    assert not report.passed and "split: 12 faces" in report.results[0].detail


class FakeVolume:
    """Last writer wins, as a Modal Volume: a reload shows what was committed, nothing else."""

    def __init__(self, root, lose_on_reload=False):
        self.root, self.lose_on_reload, self.commits, self.reloads = root, lose_on_reload, 0, 0

    def commit(self):
        self.commits += 1

    def reload(self):
        self.reloads += 1
        if self.lose_on_reload:
            for path in (self.root / "verify").glob("*.txt"):
                path.unlink()


def test_the_volume_round_trip(tmp_path):
    volume = FakeVolume(tmp_path)
    report = run_steps([Step("volume", gpu_checks.check_volume_round_trip(tmp_path, volume.commit, volume.reload))])
    assert report.passed and volume.commits == 2 and volume.reloads == 1
    assert list((tmp_path / "verify").iterdir()) == []  # the scratch file is removed
    lost = FakeVolume(tmp_path, lose_on_reload=True)
    report = run_steps([Step("volume", gpu_checks.check_volume_round_trip(tmp_path, lost.commit, lost.reload))])
    assert not report.passed and "not readable after reload" in report.results[0].detail


class FakeDict(dict):
    """modal.Dict's put/get/pop, with put-if-absent."""

    def put(self, key, value, *, skip_if_exists=False):
        if skip_if_exists and key in self:
            return False
        self[key] = value
        return True


class OverwritingDict(FakeDict):
    def put(self, key, value, *, skip_if_exists=False):
        self[key] = value
        return True


def test_the_dict_round_trip_needs_put_if_absent():
    store = FakeDict()
    assert run_steps([Step("dict", gpu_checks.check_dict_round_trip(store))]).passed and store == {}
    report = run_steps([Step("dict", gpu_checks.check_dict_round_trip(OverwritingDict()))])
    assert not report.passed and "did not answer False" in report.results[0].detail


@pytest.fixture
def local_api(settings):
    """The real service (local runner, real HTTP) with the fake backend: the API walk runs against it."""
    from fake_backend import FakeBackend as ServiceBackend
    from live_server import serve
    from trellis2_service.local import build_local_app

    with serve(build_local_app(settings, ServiceBackend())) as base_url:
        yield base_url


def test_the_deployed_job_walk_passes_against_the_real_service(local_api):
    from conftest import KEY, SECRET, png_bytes

    auth = gpu_checks.proxy_headers({"TRELLIS2_VERIFY_MODAL_KEY": KEY, "TRELLIS2_VERIFY_MODAL_SECRET": SECRET})
    detail = gpu_checks.DeployedJobCheck(gpu_checks.urllib_http(), local_api, auth, png_bytes(), poll_wait=1).run()
    assert "replay same job_id, Idempotency-Replayed: true" in detail and "matches X-Glb-Sha256" in detail


def test_the_deployed_job_walk_fails_on_a_bad_api(local_api):
    from conftest import KEY, SECRET, png_bytes

    auth = {"Modal-Key": KEY, "Modal-Secret": SECRET}
    http = gpu_checks.urllib_http()

    def no_replay_header(method, url, headers, body):
        code, answer_headers, answer = http(method, url, headers, body)
        return code, {k: v for k, v in answer_headers.items() if k != "idempotency-replayed"}, answer

    def corrupted_glb(method, url, headers, body):
        code, answer_headers, answer = http(method, url, headers, body)
        return code, answer_headers, answer + b"\0" if answer[:4] == b"glTF" else answer

    walks = {"lacks the header Idempotency-Replayed": no_replay_header, "GLB sha256": corrupted_glb}
    for fragment, wrapped in walks.items():
        report = run_steps([Step("api", gpu_checks.DeployedJobCheck(wrapped, local_api, auth, png_bytes(),
                                                                      poll_wait=1).run)])
        assert not report.passed and fragment in report.results[0].detail
    refused = run_steps([Step("api", gpu_checks.DeployedJobCheck(http, local_api, {"Modal-Key": "wrong",
                                                                                    "Modal-Secret": "wrong"},
                                                                   png_bytes()).run)])
    assert "HTTP 401" in refused.results[0].detail and "proxy auth refused the token" in refused.results[0].detail


def test_a_background_check_reports_its_start_failure_in_its_step():
    def start():
        raise RuntimeError("Modal secret `trellis2-verify-proxy` is not usable")

    report = run_steps([Step("api", gpu_checks.Background(start).result)])
    assert not report.passed and "trellis2-verify-proxy" in report.results[0].detail
    assert gpu_checks.Background(lambda: lambda: "done").result() == "done"
