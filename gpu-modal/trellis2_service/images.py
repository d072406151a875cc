"""Base64 fields and input images: decoded and checked before any of it reaches a backend."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

from PIL import Image, UnidentifiedImageError

from .config import ALLOWED_IMAGE_FORMATS, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE_PX
from .errors import validation_error

_DATA_URL_PREFIX = re.compile(r"data:[\w/+.-]+;base64,")
_WHITESPACE = re.compile(r"\s+")


def decode_base64_field(value: str, field: str, *, max_bytes: int | None = None) -> bytes:
    """Strict base64 (an optional `data:...;base64,` prefix and line breaks are tolerated)."""
    prefix = _DATA_URL_PREFIX.match(value)
    if prefix:
        value = value[prefix.end() :]
    if _WHITESPACE.search(value):
        value = _WHITESPACE.sub("", value)
    # Check the size the text would decode to before decoding it.
    if max_bytes is not None and len(value) // 4 * 3 - value[-2:].count("=") > max_bytes:
        raise validation_error(f"{field}: decodes to more than {max_bytes} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise validation_error(f"{field}: not valid base64") from None
    if not data:
        raise validation_error(f"{field}: is empty")
    return data


def open_image(data: bytes) -> Image.Image:
    """PNG/JPEG/WebP bytes -> a loaded RGB or RGBA image no larger than the size limit."""
    if len(data) > MAX_IMAGE_BYTES:
        raise validation_error(f"image: is {len(data)} bytes, over the limit of {MAX_IMAGE_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_IMAGE_FORMATS:
                raise validation_error(f"image: format {image.format} is not accepted; send PNG, JPEG or WebP")
            width, height = image.size  # read from the header, before any pixel is decoded
            if width > MAX_IMAGE_SIDE_PX or height > MAX_IMAGE_SIDE_PX:
                raise validation_error(
                    f"image: is {width}x{height} px; width and height must be at most {MAX_IMAGE_SIDE_PX}"
                )
            if width < 1 or height < 1:
                raise validation_error("image: has no pixels")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise validation_error("image: not a PNG, JPEG or WebP image") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise validation_error(f"image: could not be decoded ({type(exc).__name__})") from None
    if image.mode not in ("RGB", "RGBA"):
        has_alpha = image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    refuse_blank(image)
    return image


# TRELLIS.2's preprocess_image crops to the pixels more than 80 % opaque (its alpha > 0.8 * 255); with none
# it fails on an empty array, and on a one-colour photo the background removal leaves none. Both cost a
# GPU call that cannot succeed, so they are refused here, before any GPU work.
OPAQUE_ENOUGH = int(0.8 * 255)


def refuse_blank(image: Image.Image) -> None:
    """validation_error for an image with nothing to model: fully transparent, or one colour throughout."""
    width, height = image.size
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        low, high = alpha.getextrema()
        if low < 255:  # a cut-out: its alpha says where the object is
            if alpha.point(lambda value: 255 if value > OPAQUE_ENOUGH else 0).getbbox() is None:
                raise validation_error(
                    f"image: is transparent throughout (no pixel of the {width}x{height} is more than 80 % opaque); "
                    "send the product on an opaque background or with its own alpha"
                )
            return
    extrema = image.convert("RGB").getextrema()
    if all(low == high for low, high in extrema):
        colour = "#" + "".join(f"{low:02x}" for low, _ in extrema)
        raise validation_error(f"image: is one colour throughout ({width}x{height} px of {colour}); there is no object in it")


def image_from_base64(value: str) -> tuple[bytes, Image.Image]:
    data = decode_base64_field(value, "image", max_bytes=MAX_IMAGE_BYTES)
    return data, open_image(data)
