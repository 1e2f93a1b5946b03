"""Product images that admins upload: checked by content, stored under a generated name."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ecom_reflex.services.errors import ServiceError

MAX_IMAGE_BYTES = 2 * 1024 * 1024
# A few compressed megabytes can claim billions of pixels (a decompression bomb): the size
# the header states is checked before anything is decoded.
MAX_IMAGE_PIXELS = 25_000_000
TOO_MANY_PIXELS = f"The image has too many pixels: use at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels."
# Pillow's format name -> the extension we store it under.
ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
UPLOAD_URL_PREFIX = "/_upload/"


def detect_format(data: bytes) -> str:
    """The image's extension, judged by its bytes (never by the file name); ServiceError if unfit."""
    if not data:
        raise ServiceError("The file is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ServiceError("The image is larger than 2 MB.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ServiceError(f"{TOO_MANY_PIXELS} This one is {image.width} x {image.height}.")
            image.verify()
    except Image.DecompressionBombError:  # Pillow's own, far higher limit, met while reading the header
        raise ServiceError(TOO_MANY_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ServiceError("The file is not a PNG, JPEG or WebP image.") from None
    if image_format not in ALLOWED_FORMATS:
        raise ServiceError("The file is not a PNG, JPEG or WebP image.")
    return ALLOWED_FORMATS[image_format]


def store_image(data: bytes, upload_dir: Path) -> str:
    """Validate and save an upload; returns its public path (/_upload/<generated name>)."""
    extension = detect_format(data)
    upload_dir.mkdir(parents=True, exist_ok=True)
    name = f"product-{secrets.token_hex(12)}.{extension}"
    (upload_dir / name).write_bytes(data)
    return UPLOAD_URL_PREFIX + name


def is_known_image(path: str, upload_dir: Path, assets_dir: Path) -> bool:
    """Whether `path` is an uploaded file or a bundled asset that exists (no other values are stored)."""
    if not path:
        return True
    if path.startswith(UPLOAD_URL_PREFIX):
        name = path.removeprefix(UPLOAD_URL_PREFIX)
        return "/" not in name and name not in ("", ".", "..") and (upload_dir / name).is_file()
    candidate = (assets_dir / path.lstrip("/")).resolve()
    return path.startswith("/") and candidate.is_relative_to(assets_dir.resolve()) and candidate.is_file()
