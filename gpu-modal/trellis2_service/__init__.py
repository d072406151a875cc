"""TRELLIS.2 image-to-3D service: one FastAPI app for Modal GPUs and local CPU runs."""

__version__ = "0.1.0"
