"""Image metadata without decoding: sha256 plus width/height parsed from the file header.

Each file is read once per process (content hash and header come from the same bytes) and cached by
path, invalidated when its size or mtime changes, so a COCO-style pool shared by a dozen sources is
hashed once per build. PNG, JPEG, GIF, BMP and WebP headers are parsed directly; anything else falls back
to Pillow's lazy header read.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct

from PIL import Image

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_CACHE: dict[str, tuple[int, int, str, int, int]] = {}  # path → (size, mtime_ns, sha256, w, h)


def image_ext(data: bytes) -> str:
    """The file extension an image's magic bytes call for: png, jpg, gif, bmp, webp, tif — else ``bin``."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tif"
    return "bin"


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header: lossy (VP8), lossless (VP8L) or extended (VP8X)."""
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG/JPEG/GIF/BMP/WebP header, or None when the header is not understood."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return w, abs(h)
    if data[:2] == b"\xff\xd8":
        i, n = 2, len(data)
        while i + 3 < n:
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in _SOF:
                if i + 9 > n:
                    return None
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (seg,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + seg
        return None
    return None


def image_meta(path: str, *, validate: bool = False) -> tuple[str, int, int]:
    """``(sha256, width, height)`` of an image file. Raises OSError/ValueError on unreadable images."""
    st = os.stat(path)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns and not validate:
        return hit[2], hit[3], hit[4]
    with open(path, "rb") as f:
        data = f.read()
    size = header_size(data)
    if size is None or validate:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            if validate:
                im.load()
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"header gives a {w}x{h} image")
    if Image.MAX_IMAGE_PIXELS and w * h > 2 * Image.MAX_IMAGE_PIXELS:
        raise Image.DecompressionBombError(f"header claims {w}x{h} pixels")
    digest = hashlib.sha256(data).hexdigest()
    _CACHE[path] = (st.st_size, st.st_mtime_ns, digest, w, h)
    return digest, w, h
