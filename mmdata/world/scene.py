"""Scene graphs: the world's ground truth.

A :class:`Scene` is a background colour, a few non-overlapping objects (shape, colour, size, pixel
box) and optionally a rendered word. Every dataset in the world is derived from scene graphs, and every
image is a deterministic rendering of one (:mod:`mmdata.world.render`). Scenes come from independent
random streams keyed by ``(seed, pool, index)``, so adding a dataset never changes another's scenes;
the benchmark draws from the ``heldout`` pool, which no training source uses.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field

from mmdata.world.lexicon import BACKGROUNDS, COLOURS, SHAPES

OCR_WORDS = ("CAT", "DOG", "SUN", "MAP", "BOX", "TOP", "KEY", "CUP", "HAT", "BUS", "PEN", "OWL", "FOX", "BEE", "ICE", "JAM")


@dataclass(frozen=True)
class Obj:
    id: int
    shape: str
    colour: str
    size: str
    box: tuple[int, int, int, int]  # pixel x1, y1, x2, y2 (x2/y2 exclusive)

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2


@dataclass(frozen=True)
class Text:
    word: str
    colour: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    scene_id: str
    pool: str
    width: int
    height: int
    background: str
    objects: tuple[Obj, ...]
    text: Text | None = None
    book: dict | None = field(default=None, compare=False)  # OCR pool: title/author/genre

    def to_json(self) -> dict:
        d = asdict(self)
        d["objects"] = [asdict(o) for o in self.objects]
        return d

    @staticmethod
    def from_json(d: dict) -> Scene:
        objs = tuple(Obj(o["id"], o["shape"], o["colour"], o["size"], tuple(o["box"])) for o in d["objects"])
        t = d.get("text")
        text = Text(t["word"], t["colour"], tuple(t["box"])) if t else None
        return Scene(d["scene_id"], d["pool"], d["width"], d["height"], d["background"], objs, text, d.get("book"))

    def signature(self) -> str:
        """Content hash of what the image shows (independent of ids), to prove pools are disjoint."""
        parts = [self.background, f"{self.width}x{self.height}"]
        parts += sorted(f"{o.shape}/{o.colour}/{o.size}/{o.box}" for o in self.objects)
        if self.text:
            parts.append(f"text/{self.text.word}/{self.text.box}")
        if self.book:
            parts.append(f"book/{sorted(self.book.items())}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def rng_for(seed: int, stream: str, index: int) -> random.Random:
    """An independent, reproducible random stream (string seeds are hashed with SHA-512 by CPython)."""
    return random.Random(f"mmdata/{seed}/{stream}/{index}")


def half_sizes(width: int) -> dict[str, int]:
    return {"small": max(3, round(width * 0.09)), "large": max(5, round(width * 0.17))}


def make_scene(
    rng: random.Random,
    scene_id: str,
    pool: str,
    width: int = 64,
    height: int = 64,
    *,
    n_objects: tuple[int, int] = (2, 5),
    text_prob: float = 0.3,
) -> Scene:
    """Sample a scene: objects never overlap (2 px gap) and keep clear of the text band."""
    background = rng.choice(BACKGROUNDS)
    text = None
    band = (0, 0)  # y-range reserved for text
    if rng.random() < text_prob:
        word = rng.choice(OCR_WORDS)
        bh = max(10, round(height * 0.25))
        top = rng.random() < 0.5
        y1 = 1 if top else height - bh - 1
        tcol = "white" if background == "black" else "black"
        text = Text(word, tcol, (2, y1, width - 2, y1 + bh))
        band = (y1, y1 + bh)
    hs = half_sizes(width)
    want = rng.randint(*n_objects)
    objs: list[Obj] = []
    tries = 0
    while len(objs) < want and tries < 200:
        tries += 1
        size = "large" if rng.random() < 0.4 else "small"
        r = hs[size]
        cx = rng.randint(r + 1, width - r - 2)
        cy = rng.randint(r + 1, height - r - 2)
        box = (cx - r, cy - r, cx + r + 1, cy + r + 1)
        if text and not (box[3] + 1 < band[0] or box[1] > band[1] + 1):
            continue
        if any(_overlap(box, o.box, gap=2) for o in objs):
            continue
        objs.append(Obj(len(objs), rng.choice(SHAPES), rng.choice(COLOURS), size, box))
    return Scene(scene_id, pool, width, height, background, tuple(objs), text)


def _overlap(a, b, gap: int) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


# --------------------------------------------------------------------------------- OCR book covers

GENRES = (
    "Cookbooks",
    "History",
    "Travel",
    "Science",
    "Poetry",
    "Comics",
    "Romance",
    "Sports",
    "Children's Books",
    "Law",
)
TITLE_WORDS = ("RED", "SEA", "OLD", "MY", "THE", "LOST", "BIG", "NEW", "DARK", "GOLD", "BLUE", "WILD", "LAST", "TINY")
AUTHORS = ("Ana Silva", "Li Wei", "Omar Said", "Ayse Kaya", "Ivan Petrov", "John Smith", "Mia Brown", "Ken Ito")


def make_book(rng: random.Random, scene_id: str, width: int = 64, height: int = 64) -> Scene:
    """A book cover: coloured background, a two-word title, an author line, one genre icon."""
    title = f"{rng.choice(TITLE_WORDS)} {rng.choice(TITLE_WORDS)}"
    author = rng.choice(AUTHORS)
    genre = rng.choice(GENRES)
    colour = rng.choice(COLOURS)
    r = half_sizes(width)["small"]
    cx, cy = width // 2, height // 2 + 2
    icon = Obj(0, SHAPES[GENRES.index(genre) % len(SHAPES)], "white", "small", (cx - r, cy - r, cx + r + 1, cy + r + 1))
    book = {"title": title, "author": author, "genre": genre, "cover": colour}
    return Scene(scene_id, "ocr", width, height, colour, (icon,), None, book)
