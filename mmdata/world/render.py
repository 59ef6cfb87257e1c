"""Deterministic rendering of scene graphs with Pillow (no anti-aliasing, bundled font)."""

from __future__ import annotations

import io
import math
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from mmdata.world.scene import Obj, Scene

RGB = {
    "red": (220, 30, 30),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "pink": (240, 130, 190),
    "brown": (130, 80, 40),
    "white": (255, 255, 255),
    "gray": (150, 150, 150),
    "black": (20, 20, 20),
}


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _polygon(o: Obj) -> list[tuple[float, float]] | None:
    x1, y1, x2, y2 = o.box
    cx, cy = (x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2
    r = (x2 - x1 - 1) / 2
    if o.shape == "triangle":
        return [(cx, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)]
    if o.shape == "diamond":
        return [(cx, y1), (x2 - 1, cy), (cx, y2 - 1), (x1, cy)]
    if o.shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    if o.shape == "cross":
        w = r * 0.38
        return [
            (cx - w, y1), (cx + w, y1), (cx + w, cy - w), (x2 - 1, cy - w), (x2 - 1, cy + w), (cx + w, cy + w),
            (cx + w, y2 - 1), (cx - w, y2 - 1), (cx - w, cy + w), (x1, cy + w), (x1, cy - w), (cx - w, cy - w),
        ]  # fmt: skip
    return None


def _draw(d: ImageDraw.ImageDraw, o: Obj, fill) -> None:
    x1, y1, x2, y2 = o.box
    if o.shape == "circle":
        d.ellipse((x1, y1, x2 - 1, y2 - 1), fill=fill)
    elif o.shape == "square":
        d.rectangle((x1, y1, x2 - 1, y2 - 1), fill=fill)
    else:
        d.polygon(_polygon(o), fill=fill)


def object_mask(scene: Scene) -> Image.Image:
    """An ``L`` image of the scene's pixels labelled by object: 0 for the background, ``k + 1`` where
    object ``k`` is drawn (the same geometry as :func:`render`); the text is not drawn."""
    im = Image.new("L", (scene.width, scene.height), 0)
    d = ImageDraw.Draw(im)
    for k, o in enumerate(scene.objects):
        _draw(d, o, k + 1)
    return im


def render(scene: Scene) -> Image.Image:
    im = Image.new("RGB", (scene.width, scene.height), RGB[scene.background])
    d = ImageDraw.Draw(im)
    for o in scene.objects:
        _draw(d, o, RGB[o.colour])
    if scene.text is not None:
        t = scene.text
        h = t.box[3] - t.box[1]
        d.text(((t.box[0] + t.box[2]) / 2, (t.box[1] + t.box[3]) / 2), t.word, fill=RGB[t.colour],
               font=_font(max(8, h - 2)), anchor="mm")  # fmt: skip
    if scene.book is not None:
        b = scene.book
        ink = RGB["black"] if scene.background in ("yellow", "pink", "orange") else RGB["white"]
        fs = max(7, scene.height // 7)
        d.text((scene.width / 2, fs * 0.8), b["title"], fill=ink, font=_font(fs), anchor="mm")
        d.text((scene.width / 2, scene.height - fs * 0.8), b["author"], fill=ink, font=_font(max(6, fs - 2)), anchor="mm")
    return im


def encode(im: Image.Image, fmt: str) -> bytes:
    """JPEG (quality 92, baseline) or PNG (level 6); both byte-stable for a given Pillow build."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, format="JPEG", quality=92, optimize=False, progressive=False, subsampling=0)
    elif fmt == "png":
        im.save(buf, format="PNG", optimize=False, compress_level=6)
    else:
        raise ValueError(fmt)
    return buf.getvalue()
