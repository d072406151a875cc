"""The generation state on the wire and on disk: signed, checksummed, compressed, and never pickled.

The upstream service sent pickled states to clients and unpickled what came back, so any caller could run
code on the GPU container. Here a state is only numbers and JSON, and the decoder checks a signature
before it looks at anything else.

Why our own framing rather than `.npz`: npz is a zip archive, so bounding its decompression means policing
zip entries, names and per-entry sizes ourselves, and its arrays are compressed one by one with zlib. A
flat frame with one LZ4 stream is short enough to audit, declares its full size up front (checked before
any decompression), and streams arrays into the compressor without building one big buffer. It costs
about 1.3x the time of pickle + LZ4 for the same size (tests/bench_state_codec.py; the extra is the
sha256 checksum and the HMAC).

Layout (all integers little-endian):

    signed blob = "T2SS" | version u8 | mac_alg u8 | HMAC-SHA256(secret, domain | first 6 bytes | body) [32] | body
    body        = "T2ST" | format u8 | compression u8 | reserved u16 | raw_len u64 | sha256(raw) [32] | LZ4 frame(raw)
    raw         = header_len u32 | header JSON | padding | arrays, each at a 64-byte aligned offset
    header      = {"backend": str, "meta": {...}, "arrays": [{"name", "dtype", "shape", "offset", "nbytes"}]}

Decoding order: signature (hmac.compare_digest) -> fixed header and version -> declared size <= limit ->
decompression stopped at that size -> sha256 -> JSON header -> every array's dtype (whitelist), shape and
extent checked against the payload -> numpy views on the decompressed buffer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import struct

import lz4.frame
import numpy as np

from .backends.base import GenerationState

SIGNED_MAGIC = b"T2SS"
BODY_MAGIC = b"T2ST"
SIGNED_VERSION = 1
FORMAT_VERSION = 1
MAC_ALG_HMAC_SHA256 = 1
COMPRESSION_NONE, COMPRESSION_LZ4 = 0, 1
_MAC_DOMAIN = b"trellis2-state\x00"  # keeps these MACs distinct from anything else signed with the same key

_SIGNED_PREFIX = struct.Struct("<4sBB")  # magic, version, mac algorithm
_MAC_BYTES = 32
_SIGNED_HEADER_BYTES = _SIGNED_PREFIX.size + _MAC_BYTES
_BODY_HEADER = struct.Struct("<4sBBHQ32s")  # magic, format, compression, reserved, raw_len, sha256
_HEADER_LEN = struct.Struct("<I")
_ALIGN = 64
MAX_HEADER_BYTES = 1024 * 1024
MAX_ARRAYS = 64
MAX_NDIM = 8

# Plain numeric types only: no object, string, void or structured dtypes, which is where unsafe or
# ambiguous decoding would live. Bytes are always stored little-endian.
ALLOWED_DTYPES = frozenset(
    ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64"]
)


class StateFormatError(ValueError):
    """The bytes are not a state this service made (or they were changed). Maps to 400 validation_error."""


def encode_state(state: GenerationState, secret: bytes, *, compression: int = COMPRESSION_LZ4) -> bytes:
    """GenerationState -> signed blob."""
    body = _encode_body(state, compression)
    prefix = _SIGNED_PREFIX.pack(SIGNED_MAGIC, SIGNED_VERSION, MAC_ALG_HMAC_SHA256)
    return prefix + _mac(secret, prefix, body) + body


def verify_state(blob: bytes, secret: bytes) -> memoryview:
    """Check magic, version and signature only (cheap, no decompression); return the body."""
    if len(blob) < _SIGNED_HEADER_BYTES:
        raise StateFormatError("state is too short to be a TRELLIS.2 service state")
    magic, version, mac_alg = _SIGNED_PREFIX.unpack_from(blob)
    if magic != SIGNED_MAGIC:
        raise StateFormatError(_unknown_format_message(blob))
    if version != SIGNED_VERSION or mac_alg != MAC_ALG_HMAC_SHA256:
        raise StateFormatError(f"unsupported state version {version} (this service reads version {SIGNED_VERSION})")
    view = memoryview(blob)
    expected = _mac(secret, view[: _SIGNED_PREFIX.size], view[_SIGNED_HEADER_BYTES:])
    if not hmac.compare_digest(expected, bytes(view[_SIGNED_PREFIX.size : _SIGNED_HEADER_BYTES])):
        raise StateFormatError("state signature does not match: it was altered, or made by another deployment")
    return view[_SIGNED_HEADER_BYTES:]


def decode_state(blob: bytes, secret: bytes, *, max_bytes: int) -> GenerationState:
    """Signed blob -> GenerationState, refusing anything unsigned, altered, malformed or over `max_bytes`."""
    body = verify_state(blob, secret)
    raw = _decompress_body(body, max_bytes)
    return _parse_raw(raw)


def _mac(secret: bytes, prefix, body) -> bytes:
    mac = hmac.new(secret, _MAC_DOMAIN, hashlib.sha256)
    mac.update(prefix)
    mac.update(body)
    return mac.digest()


def _encode_body(state: GenerationState, compression: int) -> bytes:
    if len(state.arrays) > MAX_ARRAYS:
        raise ValueError(f"a state holds at most {MAX_ARRAYS} arrays")
    arrays = []
    entries = []
    offset = 0  # relative to the start of the array area; fixed up below once the header size is known
    for name, value in state.arrays.items():
        array = np.asarray(value)
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would also turn 0-d arrays into 1-d)
            array = array.copy(order="C")
        dtype_name = array.dtype.name
        if dtype_name not in ALLOWED_DTYPES:
            raise ValueError(f"array {name!r} has dtype {dtype_name}, which a state cannot hold")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        offset = _aligned(offset)
        entries.append({"name": name, "dtype": dtype_name, "shape": list(array.shape), "offset": offset,
                        "nbytes": array.nbytes})
        arrays.append((offset, array))
        offset += array.nbytes
    header = {"backend": state.backend, "meta": state.meta, "arrays": entries}
    header_bytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    # The array area starts at the first aligned offset after the header; offsets in the header are
    # absolute, so rewrite them now (the header's own length can change by a few digits, hence the loop).
    while True:
        area_start = _aligned(_HEADER_LEN.size + len(header_bytes))
        for entry, (relative, _) in zip(entries, arrays):
            entry["offset"] = area_start + relative
        new_header = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
        if _aligned(_HEADER_LEN.size + len(new_header)) == area_start:
            header_bytes = new_header
            break
        header_bytes = new_header
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError("state metadata is too large")

    digest = hashlib.sha256()
    raw_len = 0
    compressor = lz4.frame.LZ4FrameCompressor() if compression == COMPRESSION_LZ4 else None
    pieces: list[bytes] = [compressor.begin()] if compressor else []

    def feed(chunk) -> None:
        nonlocal raw_len
        digest.update(chunk)
        raw_len += len(chunk)
        pieces.append(compressor.compress(chunk) if compressor else bytes(chunk))

    feed(_HEADER_LEN.pack(len(header_bytes)) + header_bytes)
    for relative, array in arrays:
        feed(bytes(area_start + relative - raw_len))  # alignment padding
        feed(memoryview(array.reshape(-1)).cast("B"))
    if compressor:
        pieces.append(compressor.flush())
    body_header = _BODY_HEADER.pack(BODY_MAGIC, FORMAT_VERSION, compression, 0, raw_len, digest.digest())
    return body_header + b"".join(pieces)


def _decompress_body(body: memoryview, max_bytes: int) -> bytearray:
    if len(body) < _BODY_HEADER.size:
        raise StateFormatError("state body is truncated")
    magic, version, compression, reserved, raw_len, checksum = _BODY_HEADER.unpack_from(body)
    if magic != BODY_MAGIC or reserved != 0:
        raise StateFormatError("state body has an unknown layout")
    if version != FORMAT_VERSION:
        raise StateFormatError(f"unsupported state format {version} (this service reads format {FORMAT_VERSION})")
    if raw_len > max_bytes:
        raise StateFormatError(f"state decodes to {raw_len} bytes, over the limit of {max_bytes}")
    payload = body[_BODY_HEADER.size :]
    if compression == COMPRESSION_LZ4:
        decompressor = lz4.frame.LZ4FrameDecompressor(return_bytearray=True)
        try:
            # Ask for one byte more than declared: getting it means the declared size lied, and we stop there.
            raw = decompressor.decompress(payload, max_length=raw_len + 1)
        except RuntimeError as exc:
            raise StateFormatError(f"state does not decompress: {exc}") from None
        if len(raw) != raw_len or not decompressor.eof or decompressor.unused_data:
            raise StateFormatError("state decompresses to a different size than it declares")
    elif compression == COMPRESSION_NONE:
        if len(payload) != raw_len:
            raise StateFormatError("state payload size does not match its header")
        raw = bytearray(payload)
    else:
        raise StateFormatError(f"unknown state compression {compression}")
    if not hmac.compare_digest(hashlib.sha256(raw).digest(), checksum):
        raise StateFormatError("state checksum does not match its contents")
    return raw


def _parse_raw(raw: bytearray) -> GenerationState:
    if len(raw) < _HEADER_LEN.size:
        raise StateFormatError("state payload is truncated")
    (header_len,) = _HEADER_LEN.unpack_from(raw)
    if header_len > MAX_HEADER_BYTES or _HEADER_LEN.size + header_len > len(raw):
        raise StateFormatError("state header length is out of range")
    try:
        header = json.loads(bytes(raw[_HEADER_LEN.size : _HEADER_LEN.size + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFormatError(f"state header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("backend"), str):
        raise StateFormatError("state header lacks its backend name")
    meta, entries = header.get("meta", {}), header.get("arrays")
    if not isinstance(meta, dict) or not isinstance(entries, list) or len(entries) > MAX_ARRAYS:
        raise StateFormatError("state header has a malformed meta or arrays field")

    arrays: dict[str, np.ndarray] = {}
    floor = _HEADER_LEN.size + header_len  # arrays may not overlap the header or each other
    for entry in entries:
        name, dtype, shape, offset, nbytes = _checked_entry(entry)
        if name in arrays:
            raise StateFormatError(f"state holds array {name!r} twice")
        if offset < floor or offset + nbytes > len(raw):
            raise StateFormatError(f"array {name!r} lies outside the state payload")
        count = nbytes // dtype.itemsize
        arrays[name] = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)
        floor = offset + nbytes
    return GenerationState(backend=header["backend"], arrays=arrays, meta=meta)


def _checked_entry(entry) -> tuple[str, np.dtype, tuple[int, ...], int, int]:
    if not isinstance(entry, dict):
        raise StateFormatError("state array entry is not an object")
    name, dtype_name = entry.get("name"), entry.get("dtype")
    shape, offset, nbytes = entry.get("shape"), entry.get("offset"), entry.get("nbytes")
    if not isinstance(name, str) or not 0 < len(name) <= 128:
        raise StateFormatError("state array has an invalid name")
    if dtype_name not in ALLOWED_DTYPES:
        raise StateFormatError(f"array {name!r} has dtype {dtype_name!r}, which is not allowed")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(type(n) is int and n >= 0 for n in shape)
        or type(offset) is not int
        or type(nbytes) is not int
    ):
        raise StateFormatError(f"array {name!r} has a malformed shape, offset or size")
    dtype = np.dtype(dtype_name).newbyteorder("<")
    if math.prod(shape) * dtype.itemsize != nbytes or offset < 0:
        raise StateFormatError(f"array {name!r} declares a size that does not match its shape")
    return name, dtype, tuple(shape), offset, nbytes


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _unknown_format_message(blob: bytes) -> str:
    if blob[:1] == b"\x80" or blob[:4] == b"\x04\x22\x4d\x18":
        # Protocol-2+ pickles start with 0x80; the upstream's LZ4-wrapped pickle starts with the LZ4 frame magic.
        return ("state looks like a pickled state from the original service; "
                "only signed states from this service are accepted")
    return "state is not a TRELLIS.2 service state (unknown magic bytes)"
