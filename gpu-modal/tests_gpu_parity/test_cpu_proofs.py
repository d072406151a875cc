"""What the GPU path depends on that a CPU can prove, with the GPU image's package versions:

- an OpenEXR HDRI decodes when OPENCV_IO_ENABLE_OPENEXR=1, and not when it is 0;
- a textured trimesh scene (what o_voxel's to_glb returns) exports to a valid GLB with PNG and with WebP
  textures (Khronos validator);
- preview frames of make_pbr_vis_frames' shape encode to an H.264 MP4 that decodes frame for frame.
The functions under test are backends/trellis2_io.py's, which backends/trellis2.py uses.
"""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trellis2_service import gpu_image

HERE = Path(__file__).resolve().parent
GPU_MODAL = HERE.parent
PARITY = ("opencv-python-headless", "trimesh", "imageio", "imageio-ffmpeg", "numpy", "pillow", "av")


def run_python(code: str, env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """A fresh interpreter: OpenCV reads OPENCV_IO_ENABLE_OPENEXR once per process (at its first EXR decode)."""
    env = {key: value for key, value in os.environ.items() if key != "OPENCV_IO_ENABLE_OPENEXR"}
    env.update(env_extra, PYTHONPATH=str(GPU_MODAL))
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


def test_this_venv_has_the_gpu_images_versions():
    from importlib.metadata import version

    locked = gpu_image.locked_versions()
    for package in PARITY:
        assert version(package) == locked[package], package


@pytest.fixture
def hdri(tmp_path) -> tuple[Path, np.ndarray]:
    """A small float32 HDR environment map (values above 1, as in a real HDRI), written as OpenEXR."""
    code = (
        "import os; os.environ['OPENCV_IO_ENABLE_OPENEXR'] = '1'\n"
        "import cv2, numpy as np\n"
        "y, x = np.mgrid[0:32, 0:64].astype(np.float32)\n"
        "bgr = np.stack([x / 8, y / 4, np.full_like(x, 12.5)], axis=-1).astype(np.float32)\n"
        "assert cv2.imwrite('sky.exr', bgr)\n"
        "np.save('sky.npy', bgr[..., ::-1])\n"
    )
    made = run_python(code, {}, tmp_path)
    assert made.returncode == 0, made.stderr
    return tmp_path / "sky.exr", np.load(tmp_path / "sky.npy")


def test_the_hdri_decodes_with_the_openexr_flag(hdri, tmp_path):
    path, expected_rgb = hdri
    code = (
        "import numpy as np, sys\n"
        "from trellis2_service.backends.trellis2_io import read_hdri_rgb, openexr_in_build\n"
        f"rgb = read_hdri_rgb({str(path)!r})\n"
        "np.save('decoded.npy', rgb); print(openexr_in_build())\n"
    )
    decoded = run_python(code, {"OPENCV_IO_ENABLE_OPENEXR": "1"}, tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.strip().startswith("build")  # this wheel bundles OpenEXR
    rgb = np.load(tmp_path / "decoded.npy")
    assert rgb.dtype == np.float32 and rgb.shape == (32, 64, 3)
    np.testing.assert_allclose(rgb, expected_rgb, rtol=1e-3)  # RGB order, HDR values above 1 kept
    assert rgb.max() > 10


def test_without_the_flag_cv2_cannot_decode_it_and_the_error_says_why(hdri, tmp_path):
    path, _ = hdri
    code = (
        "from trellis2_service.backends.trellis2_io import read_hdri_rgb, HdriError\n"
        "try:\n"
        f"    read_hdri_rgb({str(path)!r})\n"
        "except HdriError as error:\n"
        "    print('REFUSED', error)\n"
    )
    refused = run_python(code, {"OPENCV_IO_ENABLE_OPENEXR": "0"}, tmp_path)  # a container started without it
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.startswith("REFUSED") and "OPENCV_IO_ENABLE_OPENEXR" in refused.stdout


def textured_scene():
    """A trimesh scene like to_glb's: one mesh, UVs, a PBR material with base colour and
    metallic-roughness textures."""
    import trimesh
    from PIL import Image

    mesh = trimesh.creation.icosphere(subdivisions=2)
    uv = np.stack([(mesh.vertices[:, 0] + 1) / 2, (mesh.vertices[:, 1] + 1) / 2], axis=1)
    y, x = np.mgrid[0:64, 0:64]
    base = Image.fromarray(np.stack([x * 4, y * 4, np.full_like(x, 128)], axis=-1).astype(np.uint8))
    metal_rough = Image.fromarray(np.stack([np.zeros_like(x), np.full_like(x, 200), np.full_like(x, 30)], -1).astype(np.uint8))
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=base, metallicRoughnessTexture=metal_rough,
                                                    metallicFactor=1.0, roughnessFactor=1.0)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return trimesh.Scene(mesh)


def validate(paths: list[Path]) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is needed for the Khronos validator (it runs the rest of the project's tests too)"
    done = subprocess.run([node, str(HERE / "validate_glb.mjs"), *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_textured_scene_exports_to_valid_glbs_with_png_and_with_webp(tmp_path):
    from trellis2_service.backends.trellis2_io import export_glb_bytes

    png_glb, webp_glb = tmp_path / "png.glb", tmp_path / "webp.glb"
    png_glb.write_bytes(export_glb_bytes(textured_scene()))
    webp_glb.write_bytes(export_glb_bytes(textured_scene(), extension_webp=True))
    png_report, webp_report = validate([png_glb, webp_glb])
    assert png_report["numErrors"] == 0, png_report["errors"]
    assert webp_report["numErrors"] == 0, webp_report["errors"]
    assert set(png_report["images"]) == {"image/png"} and "EXT_texture_webp" not in png_report["extensionsUsed"]
    assert set(webp_report["images"]) == {"image/webp"} and "EXT_texture_webp" in webp_report["extensionsUsed"]


def test_the_validator_would_catch_a_broken_glb(tmp_path):
    from trellis2_service.backends.trellis2_io import export_glb_bytes

    data = bytearray(export_glb_bytes(textured_scene()))
    data[12:16] = (0xFFFFFF).to_bytes(4, "little")  # a JSON chunk length far past the end
    broken = tmp_path / "broken.glb"
    broken.write_bytes(bytes(data))
    assert validate([broken])[0]["numErrors"] > 0


def test_preview_frames_encode_to_an_mp4_the_way_the_backend_does():
    import av

    from trellis2_service.backends.trellis2_io import PREVIEW_FPS, encode_preview_mp4

    size = 64  # make_pbr_vis_frames(resolution=R) gives (1.5 R) x (2 R) frames: 96 x 128 here
    frames = [np.full((size * 3 // 2, size * 2, 3), (i * 9) % 256, np.uint8) for i in range(20)]
    mp4 = encode_preview_mp4(frames)
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert stream.codec_context.name == "h264" and stream.average_rate == PREVIEW_FPS
    assert len(decoded) == 20 and decoded[0].shape == (96, 128, 3)
    assert abs(int(decoded[10].mean()) - 90) <= 3  # the right frame in the right place


def test_imageio_ffmpeg_ships_its_ffmpeg():
    import imageio_ffmpeg

    assert Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()


def baked_surface(texture_size: int = 256, *, double_sided: bool = False):
    """What the GPU half of trellis2_glb hands to the CPU tail: an icosphere in glTF axes and four raw maps, a
    quarter of whose texels no face covers (those are inpainted)."""
    import trimesh

    from trellis2_service.backends.trellis2_glb import BakedSurface

    sphere = trimesh.creation.icosphere(subdivisions=2)
    uvs = np.stack([(sphere.vertices[:, 0] + 1) / 2, (sphere.vertices[:, 1] + 1) / 2], axis=1).astype(np.float32)
    y, x = np.mgrid[0:texture_size, 0:texture_size]
    covered = (x < texture_size * 3 // 4) | (y < texture_size // 2)
    def hide(values):  # uncovered texels hold zeros, as the bake leaves them
        return np.where(covered[..., None], values, 0).astype(np.uint8)
    maps = {"base_color": hide(np.stack([x % 256, y % 256, (x + y) % 256], axis=-1)),
            "metallic": hide((x % 7 * 30)[..., None]), "roughness": hide((y % 5 * 50)[..., None]),
            "alpha": hide(np.full((texture_size, texture_size, 1), 255))}
    return BakedSurface(vertices=np.asarray(sphere.vertices, np.float32), faces=np.asarray(sphere.faces, np.int32),
                        uvs=uvs, normals=np.asarray(sphere.vertex_normals, np.float32), maps=maps, covered=covered,
                        double_sided=double_sided)


def upstream_tail_textures(baked):
    """o_voxel.postprocess.to_glb's tail, one map after the other, as upstream writes it (the oracle)."""
    import cv2

    uncovered = (~baked.covered).astype(np.uint8)
    base = cv2.inpaint(baked.maps["base_color"], uncovered, 3, cv2.INPAINT_TELEA)
    metallic = cv2.inpaint(baked.maps["metallic"], uncovered, 1, cv2.INPAINT_TELEA)[..., None]
    roughness = cv2.inpaint(baked.maps["roughness"], uncovered, 1, cv2.INPAINT_TELEA)[..., None]
    alpha = cv2.inpaint(baked.maps["alpha"], uncovered, 1, cv2.INPAINT_TELEA)[..., None]
    return (np.concatenate([base, alpha], axis=-1),
            np.concatenate([np.zeros_like(metallic), roughness, metallic], axis=-1))


def test_the_cpu_tail_gives_upstreams_textures_in_a_valid_glb(tmp_path):
    import trimesh
    from PIL import Image

    from trellis2_service.backends.trellis2_glb import finish_glb

    baked = baked_surface()
    expected_base, expected_metal_rough = upstream_tail_textures(baked)
    path = tmp_path / "tail.glb"
    path.write_bytes(finish_glb(baked, extension_webp=False, threads=4))
    report = validate([path])[0]
    assert report["numErrors"] == 0, report["errors"]
    material = next(iter(trimesh.load(path, force="scene").geometry.values())).visual.material
    assert np.array_equal(np.asarray(material.baseColorTexture.convert("RGBA")), expected_base)
    assert np.array_equal(np.asarray(material.metallicRoughnessTexture.convert("RGB")), expected_metal_rough)
    gltf = json.loads(path.read_bytes()[20:20 + int.from_bytes(path.read_bytes()[12:16], "little")])
    assert gltf["materials"][0].get("doubleSided", False) is False  # remeshed: single-sided, as upstream
    webp = tmp_path / "tail-webp.glb"
    webp.write_bytes(finish_glb(baked_surface(double_sided=True), extension_webp=True, threads=1))
    webp_report = validate([webp])[0]
    assert webp_report["numErrors"] == 0 and "EXT_texture_webp" in webp_report["extensionsUsed"]
