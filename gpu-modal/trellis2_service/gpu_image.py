"""Everything the GPU image is built from, pinned, without importing modal (verify and the tests read it).

Sources are full commit hashes (never a branch or a short prefix: a branch builds something else on every
cache miss). Python packages come from gpu-image.lock.txt, installed with --no-deps so nothing outside
the lock can enter; flash-attn is built from source against that torch in a step of its own.
"""

from __future__ import annotations

from pathlib import Path

GPU_MODAL_DIR = Path(__file__).resolve().parent.parent
GPU_LOCK_FILE = GPU_MODAL_DIR / "gpu-image.lock.txt"
WEIGHTS_LOCK_FILE = GPU_MODAL_DIR / "weights-image.lock.txt"

CUDA_BASE_IMAGE = "nvidia/cuda:12.4.0-devel-ubuntu22.04"
GPU_PYTHON = "3.10"
FLASH_ATTN_VERSION = "2.7.3"  # built with --no-build-isolation against the locked torch 2.6.0 (cu124)
CUDA_ARCH_LIST = "8.0;8.6;8.9;9.0"  # A100, A10G/L4-class, L40S, H100: extensions build for all of them
BUILD_GPU = "A10G"  # a GPU on the builder so CUDA extensions see a device while compiling
EXT_DIR = "/opt/ext"
TRELLIS2_REPO_DIR = "/opt/TRELLIS.2"
BUILD_INFO_FILE = "/opt/trellis2-build.json"


class Source:
    def __init__(self, name: str, url: str, commit: str, path: str, *, pip_install: str | None = None,
                 submodules: bool = False) -> None:
        self.name, self.url, self.commit, self.path = name, url, commit, path
        self.pip_install = pip_install  # what to pip install from the checkout (None: nothing)
        self.submodules = submodules


# The commits the seed's recipe pinned and was run with on Modal (UPSTREAM-FACTS, "Checked for a real deploy").
SOURCES = (
    Source("utils3d", "https://github.com/EasternJournalist/utils3d.git",
           "9a4eb15e4021b67b12c460c7057d642626897ec8", f"{EXT_DIR}/utils3d", pip_install="."),
    Source("nvdiffrast", "https://github.com/NVlabs/nvdiffrast.git",
           "253ac4fcea7de5f396371124af597e6cc957bfae", f"{EXT_DIR}/nvdiffrast", pip_install="."),  # = tag v0.4.0
    Source("nvdiffrec", "https://github.com/JeffreyXiang/nvdiffrec.git",
           "b296927cc7fd01c2ac1087c8065c4d7248f72da4", f"{EXT_DIR}/nvdiffrec", pip_install="."),  # renderutils
    Source("CuMesh", "https://github.com/JeffreyXiang/CuMesh.git",
           "d8d28794721a3f4984b1b12c24403f546f41d28c", f"{EXT_DIR}/CuMesh", pip_install=".", submodules=True),
    Source("FlexGEMM", "https://github.com/JeffreyXiang/FlexGEMM.git",
           "8b9afa2d56f667b709ccd761d0bd7aab48bdd7cf", f"{EXT_DIR}/FlexGEMM", pip_install=".", submodules=True),
    # o-voxel is TRELLIS.2's submodule-bearing subfolder; its eigen submodule is pinned by this commit.
    Source("TRELLIS.2", "https://github.com/microsoft/TRELLIS.2.git",
           "1762f493fe7731a3b7cc6b79ad5da7b015b516c1", TRELLIS2_REPO_DIR, pip_install="o-voxel", submodules=True),
)
PINNED_COMMITS = {source.name: source.commit for source in SOURCES}


def checkout_command(source: Source) -> str:
    """Clone, check out the commit (detached), its submodules at the commits it records, and prove HEAD."""
    steps = [
        f"git clone --filter=blob:none {source.url} {source.path}",
        f"git -C {source.path} checkout --detach {source.commit}",
    ]
    if source.submodules:
        steps.append(f"git -C {source.path} submodule update --init --recursive")
    steps.append(f'test "$(git -C {source.path} rev-parse HEAD)" = {source.commit}')
    return " && ".join(steps)


def install_command(source: Source) -> str:
    # --no-deps: every runtime dependency is in the lock (o-voxel would otherwise pull CuMesh and FlexGEMM
    # from their moving `main` branches); --no-build-isolation: build against the locked torch.
    target = source.path if source.pip_install == "." else f"{source.path}/{source.pip_install}"
    return f"pip install --no-deps --no-build-isolation {target}"


def build_record_command() -> str:
    """Write the commits actually checked out to BUILD_INFO_FILE, for `verify` to compare with the pins."""
    paths = repr({source.name: source.path for source in SOURCES})  # single-quoted: sits inside "..."
    script = ("import json, subprocess; paths = " + paths + "; "
              "commits = {n: subprocess.check_output(['git', '-C', p, 'rev-parse', 'HEAD'], text=True).strip() "
              "for n, p in paths.items()}; "
              f"json.dump({{'commits': commits, 'flash_attn': '{FLASH_ATTN_VERSION}'}}, open('{BUILD_INFO_FILE}', 'w'))")
    return f'python -c "{script}"'


def source_commands() -> list[str]:
    commands = [
        # Some submodules (CuMesh's cubvh) are declared with SSH URLs; the builder has no SSH key.
        'git config --global url."https://github.com/".insteadOf "git@github.com:"',
    ]
    for source in SOURCES:
        commands.append(checkout_command(source))
        if source.pip_install:
            commands.append(install_command(source))
    commands.append(build_record_command())
    return commands


def flash_attn_command() -> str:
    return f"pip install --no-deps --no-build-isolation flash-attn=={FLASH_ATTN_VERSION}"


def locked_versions(lock_file: Path = GPU_LOCK_FILE) -> dict[str, str]:
    """name (lowercase, '-' for '_') -> version, from a lock file; {} when the file is not here (in a container)."""
    if not lock_file.is_file():
        return {}
    versions = {}
    for line in lock_file.read_text().splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            versions[name.strip().lower().replace("_", "-")] = version.strip()
    return versions
