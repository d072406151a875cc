"""extension_webp end to end on the CPU: the API field reaches the relief backend, whose GLB carries a
WebP texture under EXT_texture_webp, valid by the Khronos validator (tests_gpu_parity/validate_glb.mjs)."""

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, b64, png_bytes
from trellis2_service.backends import create_backend
from trellis2_service.local import build_local_app

VALIDATOR = Path(__file__).resolve().parent.parent / "tests_gpu_parity" / "validate_glb.mjs"


def glb_json(glb: bytes) -> dict:
    length = int.from_bytes(glb[12:16], "little")
    return json.loads(glb[20 : 20 + length])


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the Khronos validator")
def test_webp_textures_through_the_api_validate(settings, tmp_path):
    with TestClient(build_local_app(settings, create_backend("relief"))) as client:
        client.headers.update(AUTH)
        state = client.post("/generate", json={"image": b64(png_bytes(size=(96, 64))), "include_video": False}).json()["state"]
        glbs = {}
        for webp in (False, True):
            response = client.post("/extract_glb", json={"state": state, "decimation_target": 2000, "texture_size": 512,
                                                          "extension_webp": webp})
            assert response.status_code == 200, response.text
            glbs[webp] = base64.b64decode(response.json()["glb"])
    assert "extensionsUsed" not in glb_json(glbs[False]) and glb_json(glbs[False])["images"][0]["mimeType"] == "image/png"
    document = glb_json(glbs[True])
    assert document["extensionsRequired"] == ["EXT_texture_webp"] and document["images"][0]["mimeType"] == "image/webp"
    paths = []
    for webp, glb in glbs.items():
        path = tmp_path / f"webp-{webp}.glb"
        path.write_bytes(glb)
        paths.append(path)
    done = subprocess.run(["node", str(VALIDATOR), *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [report["numErrors"] for report in reports] == [0, 0], reports
    assert reports[1]["images"] == ["image/webp"]


def test_webp_is_off_by_default():
    from trellis2_service.schemas import ExtractBody

    assert ExtractBody(state_id="st_" + "0" * 32).extract_params()["extension_webp"] is False
