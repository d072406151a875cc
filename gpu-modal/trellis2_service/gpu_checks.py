"""What `modal run -m trellis2_service.modal_app::verify` checks inside the GPU image.

Each check returns (passed, detail) and never raises, so one report shows every problem at once. Model
access is checked with huggingface_hub against the token in HF_TOKEN, without downloading weights.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable

TRELLIS2_ROOT = Path(os.environ.get("TRELLIS2_ROOT", "/opt/TRELLIS.2"))
HDRI_PATH = Path(os.environ.get("TRELLIS2_HDRI_PATH") or TRELLIS2_ROOT / "assets" / "hdri" / "forest.exr")
BUILD_COMMITS_FILE = Path("/opt/trellis2-build-commits.txt")
GATED_MODELS = (
    "microsoft/TRELLIS.2-4B",
    "facebook/dinov3-vitl16-pretrain-lvd1689m",
    "briaai/RMBG-2.0",  # CC BY-NC 4.0: non-commercial use only
)

Check = tuple[bool, str]


def check_cuda() -> Check:
    import torch

    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} sees no CUDA device"
    return True, f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, torch {torch.__version__}"


def check_module(name: str) -> Callable[[], Check]:
    def check() -> Check:
        module = importlib.import_module(name)
        return True, getattr(module, "__version__", "") or "imported"

    return check


def check_pipeline_import() -> Check:
    from trellis2.pipelines import Trellis2ImageTo3DPipeline  # noqa: F401

    return True, "trellis2.pipelines.Trellis2ImageTo3DPipeline"


def check_hdri() -> Check:
    if HDRI_PATH.is_file():
        return True, f"{HDRI_PATH} ({HDRI_PATH.stat().st_size} bytes)"
    return False, f"{HDRI_PATH} is missing"


def check_model_access(repo_id: str) -> Callable[[], Check]:
    license_page = f"https://huggingface.co/{repo_id}"

    def check() -> Check:
        token = os.environ.get("HF_TOKEN")
        if not token:
            return False, "HF_TOKEN is not set (Modal secret `huggingface`)"
        import huggingface_hub

        try:
            huggingface_hub.auth_check(repo_id, token=token)
        except Exception as exc:  # GatedRepoError, RepositoryNotFoundError, HTTP errors
            return False, f"{type(exc).__name__}: accept the license at {license_page} with the token's account"
        return True, "readable with HF_TOKEN"

    return check


def all_checks() -> list[tuple[str, Callable[[], Check]]]:
    checks: list[tuple[str, Callable[[], Check]]] = [("CUDA", check_cuda)]
    for module in ("flash_attn", "nvdiffrast.torch", "cumesh", "flex_gemm", "o_voxel"):
        checks.append((module.split(".")[0], check_module(module)))
    checks += [("pipeline import", check_pipeline_import), ("HDRI file", check_hdri)]
    checks += [(f"HF access {repo}", check_model_access(repo)) for repo in GATED_MODELS]
    return checks


def run_checks(print_line: Callable[[str], None] = print) -> bool:
    """Print PASSED/FAILED per check and a final verdict; True when everything passed."""
    passed_all = True
    for name, check in all_checks():
        try:
            passed, detail = check()
        except Exception as exc:  # an import that fails is a failed check, not a crash of the report
            passed, detail = False, f"{type(exc).__name__}: {exc}"
        passed_all &= passed
        print_line(f"{'PASSED' if passed else 'FAILED'}  {name}: {detail}")
    if BUILD_COMMITS_FILE.is_file():
        print_line("built from: " + " ".join(BUILD_COMMITS_FILE.read_text().split()))
    print_line(f"VERDICT: {'PASSED' if passed_all else 'FAILED'}")
    return passed_all
