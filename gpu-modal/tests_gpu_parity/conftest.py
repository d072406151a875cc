"""The CPU proofs run in gpu-modal/.venv-gpu-parity (the GPU image's versions of opencv-python-headless,
trimesh, imageio(-ffmpeg), numpy, Pillow and PyAV) against the very functions the GPU backend calls."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
