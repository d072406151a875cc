"""Every version of the GPU image is pinned: full commits for sources, `==` for every Python package.

The recipe is read back from what modal_app.py actually asked modal.Image to do (recorded while importing
it offline, see test_modal_app.py), not from a copy of it.
"""

import re
from pathlib import Path

import pytest

from test_modal_app import IMAGE_STEPS, modal_app  # noqa: F401  (the fixture records the image steps)
from trellis2_service import gpu_image

GPU_MODAL = Path(__file__).resolve().parent.parent
FULL_COMMIT = re.compile(r"^[0-9a-f]{40}$")
PINNED_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+!-]*(\s*;[^#]+)?$")
# UPSTREAM-FACTS, "Checked for a real deploy": what the seed ran on Modal.
UPSTREAM_COMMITS = {
    "nvdiffrast": "253ac4fcea7de5f396371124af597e6cc957bfae",
    "nvdiffrec": "b296927cc7fd01c2ac1087c8065c4d7248f72da4",
    "utils3d": "9a4eb15e4021b67b12c460c7057d642626897ec8",
    "CuMesh": "d8d28794721a3f4984b1b12c24403f546f41d28c",
    "FlexGEMM": "8b9afa2d56f667b709ccd761d0bd7aab48bdd7cf",
    "TRELLIS.2": "1762f493fe7731a3b7cc6b79ad5da7b015b516c1",
}
OPENEXR_OPENCV_BUILDS = {"4.12.0.88", "4.13.0.92", "4.14.0.94"}  # 5.x is built without OpenEXR
PARITY_PACKAGES = ("opencv-python-headless", "trimesh", "imageio", "imageio-ffmpeg", "numpy", "pillow", "av")


def requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def unpinned_in(lines: list[str]) -> list[str]:
    return [line for line in lines if not PINNED_LINE.match(line)]


def branch_or_prefix_refs(command: str) -> list[str]:
    """Refs in a shell command that are not full commits: `checkout X`, `clone -b X`, `git+...@X`."""
    refs = re.findall(r"checkout(?:\s+--detach)?\s+(\S+)", command)
    refs += re.findall(r"(?:-b|--branch)\s+(\S+)", command)
    refs += re.findall(r"git\+\S+@(\S+)", command)
    return [ref for ref in refs if not FULL_COMMIT.match(ref)]


def test_the_six_sources_are_the_seeds_full_commits():
    assert gpu_image.PINNED_COMMITS == UPSTREAM_COMMITS


def test_the_recipe_pins_every_source_and_package(modal_app):  # noqa: F811
    steps = [step for step in IMAGE_STEPS]
    commands = [command for name, args, _ in steps if name == "run_commands" for command in args]
    assert commands, "modal_app.py declared no build commands"
    for name, commit in UPSTREAM_COMMITS.items():
        assert any(f"checkout --detach {commit}" in command for command in commands), name
        assert any(f'rev-parse HEAD)" = {commit}' in command for command in commands), name
    for command in commands:
        assert branch_or_prefix_refs(command) == [], command
        for package in re.findall(r"pip install (?:--\S+\s+)*([A-Za-z][^\s/]*)(?:\s|$)", command):
            assert "==" in package, f"unpinned pip install in {command!r}"
    packages = [package for name, args, _ in steps if name in ("pip_install", "uv_pip_install") for package in args]
    assert unpinned_in(list(packages)) == []
    lock_files = {Path(args[0]).name for name, args, _ in steps if name == "pip_install_from_requirements"}
    assert lock_files == {"gpu-image.lock.txt", "weights-image.lock.txt"}
    for name, args, kwargs in steps:
        if name == "pip_install_from_requirements":
            assert "--no-deps" in kwargs.get("extra_options", ""), "a lock must be installed with --no-deps"
            assert not kwargs.get("index_url") and not kwargs.get("extra_index_url")


@pytest.mark.parametrize("lock", ["gpu-image.lock.txt", "weights-image.lock.txt", "requirements-gpu-parity.txt"])
def test_every_locked_package_is_pinned(lock):
    lines = requirement_lines(GPU_MODAL / lock)
    assert lines and unpinned_in(lines) == []


def test_the_gpu_lock_holds_torch_cu124_and_an_opencv_with_openexr():
    versions = gpu_image.locked_versions()
    assert versions["torch"] == "2.6.0" and versions["torchvision"] == "0.21.0"
    assert versions["nvidia-cuda-runtime-cu12"].startswith("12.4.")  # PyPI's torch 2.6.0 is the CUDA 12.4 build
    assert versions["opencv-python-headless"] in OPENEXR_OPENCV_BUILDS
    for needed in ("transformers", "huggingface-hub", "trimesh", "imageio-ffmpeg", "av", "lz4", "einops",
                   "moderngl", "plyfile", "scipy", "easydict", "kornia", "timm", "lpips", "zstandard"):
        assert needed in versions, needed


def test_the_parity_venv_has_the_gpu_images_versions():
    gpu = gpu_image.locked_versions()
    parity = gpu_image.locked_versions(GPU_MODAL / "requirements-gpu-parity.txt")
    for package in PARITY_PACKAGES:
        assert parity[package] == gpu[package], package


def test_the_weights_image_has_the_gpu_images_huggingface_hub():
    weights = gpu_image.locked_versions(gpu_image.WEIGHTS_LOCK_FILE)
    assert weights["huggingface-hub"] == gpu_image.locked_versions()["huggingface-hub"]


def test_the_checks_themselves_catch_what_they_look_for():
    assert branch_or_prefix_refs("git -C /x checkout main") == ["main"]
    assert branch_or_prefix_refs("git clone -b renderutils https://x") == ["renderutils"]
    assert branch_or_prefix_refs("git -C /x checkout --detach 1762f49") == ["1762f49"]
    assert branch_or_prefix_refs("pip install git+https://github.com/a/b.git@v0.4.0") == ["v0.4.0"]
    assert unpinned_in(["numpy", "opencv-python-headless>=4", "torch==2.6.0"]) == ["numpy", "opencv-python-headless>=4"]
