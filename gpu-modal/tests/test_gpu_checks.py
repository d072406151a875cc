from trellis2_service import gpu_checks


def test_verify_report_runs_offline_and_fails_without_a_gpu(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    lines: list[str] = []
    assert gpu_checks.run_checks(lines.append) is False
    names = ["CUDA", "flash_attn", "nvdiffrast", "cumesh", "flex_gemm", "o_voxel", "pipeline import", "HDRI file",
             "HF access microsoft/TRELLIS.2-4B", "HF access facebook/dinov3-vitl16-pretrain-lvd1689m",
             "HF access briaai/RMBG-2.0"]
    for name in names:
        assert any(line.startswith("FAILED") and f"  {name}:" in line for line in lines), name
    assert any("HF_TOKEN is not set" in line for line in lines)
    assert lines[-1] == "VERDICT: FAILED"


def test_gated_model_failure_names_the_license_page(monkeypatch):
    import sys
    import types

    def refuse(repo_id, token=None):
        raise type("GatedRepoError", (Exception,), {})("403")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(auth_check=refuse))
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    passed, detail = gpu_checks.check_model_access("briaai/RMBG-2.0")()
    assert not passed and "https://huggingface.co/briaai/RMBG-2.0" in detail and "GatedRepoError" in detail
    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(auth_check=lambda *a, **k: None))
    assert gpu_checks.check_model_access("briaai/RMBG-2.0")()[0] is True
