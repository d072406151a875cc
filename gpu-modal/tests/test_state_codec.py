import hashlib
import hmac
import struct

import lz4.frame
import numpy as np
import pytest

from trellis2_service.backends.base import GenerationState
from trellis2_service.state_codec import (
    COMPRESSION_NONE,
    StateFormatError,
    decode_state,
    encode_state,
    verify_state,
)

SECRET = b"codec-test-secret-0123456789"
LIMIT = 64 * 1024 * 1024


def sample_state() -> GenerationState:
    rng = np.random.default_rng(0)
    return GenerationState(
        backend="trellis2",
        arrays={
            "vertices": rng.random((1000, 3), dtype=np.float32),
            "faces": rng.integers(0, 1000, (2000, 3), dtype=np.int32),
            "attrs": rng.random((500, 6)).astype(np.float16),
            "coords": rng.integers(0, 64, (500, 3)).astype(np.int64),
            "mask": rng.random(7) > 0.5,
            "voxel_size": np.array(1 / 64, dtype=np.float64),
            "empty": np.zeros((0, 3), np.float32),
            "big_endian": np.arange(5, dtype=">u4"),
        },
        meta={"voxel_shape": [64, 64, 64], "origin": [-0.5, -0.5, -0.5], "layout": {"base_color": [0, 3]}},
    )


@pytest.mark.parametrize("compression", [1, COMPRESSION_NONE])
def test_round_trip_keeps_every_array_exactly(compression):
    state = sample_state()
    decoded = decode_state(encode_state(state, SECRET, compression=compression), SECRET, max_bytes=LIMIT)
    assert decoded.backend == "trellis2" and decoded.meta == state.meta
    assert set(decoded.arrays) == set(state.arrays)
    for name, original in state.arrays.items():
        assert decoded.arrays[name].shape == original.shape
        assert decoded.arrays[name].dtype.name == original.dtype.name
        np.testing.assert_array_equal(decoded.arrays[name], original)
        assert decoded.arrays[name].flags.writeable
        assert decoded.arrays[name].ctypes.data % 64 == decoded.arrays["vertices"].ctypes.data % 64


def test_every_flipped_byte_is_caught():
    blob = encode_state(sample_state(), SECRET)
    for position in (0, 5, 10, 40, len(blob) // 2, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(StateFormatError):
            decode_state(bytes(tampered), SECRET, max_bytes=LIMIT)


def test_another_secret_is_refused():
    forged = encode_state(sample_state(), b"someone-else-entirely-1234")
    with pytest.raises(StateFormatError, match="signature"):
        verify_state(forged, SECRET)


def test_truncated_and_empty_blobs_are_refused():
    blob = encode_state(sample_state(), SECRET)
    for data in (b"", blob[:10], blob[:-1]):
        with pytest.raises(StateFormatError):
            decode_state(data, SECRET, max_bytes=LIMIT)


def _resign(body: bytes, secret: bytes = SECRET) -> bytes:
    """A correctly signed blob around any body: what a holder of the key could make (tests only)."""
    prefix = b"T2SS" + bytes([1, 1])
    mac = hmac.new(secret, b"trellis2-state\x00", hashlib.sha256)
    mac.update(prefix)
    mac.update(body)
    return prefix + mac.digest() + body


def _body(raw: bytes, *, declared: int | None = None, version: int = 1) -> bytes:
    header = struct.pack("<4sBBHQ32s", b"T2ST", version, 1, 0, len(raw) if declared is None else declared,
                         hashlib.sha256(raw).digest())
    return header + lz4.frame.compress(raw)


def test_size_limit_is_applied_before_and_during_decompression():
    blob = encode_state(sample_state(), SECRET)
    with pytest.raises(StateFormatError, match="over the limit"):
        decode_state(blob, SECRET, max_bytes=1000)
    # A bomb that lies about its size: 200 MiB of zeros declared as 1 KiB stops after 1 KiB + 1.
    bomb = _resign(_body(b"\0" * (200 << 20), declared=1024))
    with pytest.raises(StateFormatError, match="different size"):
        decode_state(bomb, SECRET, max_bytes=LIMIT)


def test_unknown_versions_are_refused():
    with pytest.raises(StateFormatError, match="unsupported state format 2"):
        decode_state(_resign(_body(b"\0" * 16, version=2)), SECRET, max_bytes=LIMIT)
    blob = bytearray(encode_state(sample_state(), SECRET))
    blob[4] = 9
    with pytest.raises(StateFormatError, match="unsupported state version 9"):
        decode_state(bytes(blob), SECRET, max_bytes=LIMIT)


def _raw_with_header(header: bytes, tail: bytes = b"") -> bytes:
    return struct.pack("<I", len(header)) + header + tail


@pytest.mark.parametrize("header, message", [
    (b'{"backend":"relief","meta":{},"arrays":[{"name":"a","dtype":"object","shape":[1],"offset":64,"nbytes":8}]}', "not allowed"),
    (b'{"backend":"relief","meta":{},"arrays":[{"name":"a","dtype":"float32","shape":[4],"offset":64,"nbytes":8}]}', "does not match"),
    (b'{"backend":"relief","meta":{},"arrays":[{"name":"a","dtype":"float32","shape":[1000],"offset":64,"nbytes":4000}]}', "outside"),
    (b'{"backend":"relief","meta":{},"arrays":[{"name":"a","dtype":"uint8","shape":[2],"offset":0,"nbytes":2}]}', "outside"),
    (b'{"backend":"relief","meta":{},"arrays":[{"name":"a","dtype":"uint8","shape":[-2],"offset":64,"nbytes":2}]}', "malformed"),
    (b'{"meta":{},"arrays":[]}', "backend"),
    (b'not json', "not valid JSON"),
])
def test_malformed_headers_are_refused_even_when_signed(header, message):
    raw = _raw_with_header(header)
    raw += bytes(-len(raw) % 64) + bytes(64)
    with pytest.raises(StateFormatError, match=message):
        decode_state(_resign(_body(raw)), SECRET, max_bytes=LIMIT)


def test_encoder_refuses_object_arrays():
    state = GenerationState(backend="relief", arrays={"bad": np.array([object()])})
    with pytest.raises(ValueError, match="cannot hold"):
        encode_state(state, SECRET)
