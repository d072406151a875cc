"""The service's error codes are the client's: libs/contracts/src/error-codes.json is written from ERROR_CODES."""

import json
from pathlib import Path

from trellis2_service.errors import error_table

CONTRACT = Path(__file__).resolve().parents[2] / "libs" / "contracts" / "src" / "error-codes.json"


def test_the_clients_error_table_is_the_services():
    assert json.loads(CONTRACT.read_text()) == error_table(), (
        "libs/contracts/src/error-codes.json differs from trellis2_service/errors.py: run "
        "`.venv/bin/python -m trellis2_service.errors > ../libs/contracts/src/error-codes.json` in gpu-modal/")
