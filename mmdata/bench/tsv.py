"""VLMEvalKit-style benchmark TSV: the loader and the writer.

Columns (one row per question; names other than option letters are matched case-insensitively):

=============  ==============================================================================
index          int, unique within a file (per language). Circular copies: ``base + k·1,000,000``
question       the question text, in the row's language
hint           optional context, prepended to the prompt
A, B, …        option texts; any single upper-case letter column; empty or ``nan`` = absent
answer         the correct option letter (Latin, in every language)
image          base64 image, or (≤ 64 characters) the ``index`` of another row whose image it reuses
image_path     alternatively, an image file relative to the TSV's folder
category       optional; ``l2-category`` a coarser grouping; ``split`` optional
language       explicit language (en, zh, pt, ar, tr, ru; ``cn`` is read as zh). When the column is
               absent the file name says it: ``MMMB_en.tsv``, ``mmbench_dev_cn.tsv`` (last ``_`` part)
g_index        optional explicit circular group; otherwise ``index mod 1,000,000``
=============  ==============================================================================

Other columns pass through (``Item.extra``) and are written back. A benchmark is one ``.tsv`` file or a
folder of them (one file per language, e.g. ``BENCHDIR/mmmb``). Every problem is a one-line
:class:`~mmdata.errors.MmdataError` naming the file, the row and the field.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes, load_json, safe_join
from mmdata.schema import LANGUAGES

CIRCULAR_STRIDE = 1_000_000
FILE_LANGUAGE_SUFFIX = {"en": "en", "cn": "zh", "zh": "zh", "pt": "pt", "ar": "ar", "tr": "tr", "ru": "ru"}
LANGUAGE_FILE_SUFFIX = {"en": "en", "zh": "cn", "pt": "pt", "ar": "ar", "tr": "tr", "ru": "ru"}
_STANDARD = ("index", "question", "hint", "answer", "category", "l2-category", "split", "language", "image", "image_path")
_MISSING = ("", "nan", "NaN", "None")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long fields


@dataclass(slots=True)
class Item:
    """One benchmark row. ``image`` holds the decoded bytes (shared with the rows that reference it)."""

    index: int
    question: str
    options: dict[str, str]
    answer: str
    language: str
    hint: str = ""
    category: str = ""
    l2_category: str = ""
    split: str = ""
    image: bytes | None = None
    image_path: Path | None = None
    image_key: str = ""  # rows showing the same image share this key (a reference resolves to its base row)
    group: int = 0  # circular group (g_index); equals index for plain rows
    extra: dict = field(default_factory=dict)
    source: str = ""  # the file the row came from (for error messages)

    @property
    def key(self) -> tuple[str, int]:
        return (self.language, self.index)


@dataclass
class Benchmark:
    name: str
    path: Path
    items: list[Item]
    circular: bool
    files: list[Path]

    @property
    def languages(self) -> list[str]:
        present = {it.language for it in self.items}
        return [lang for lang in LANGUAGES if lang in present]

    def limit(self, n: int | None) -> Benchmark:
        """The first ``n`` questions per language (whole circular groups, in file order)."""
        if n is None:
            return self
        if n < 1:
            raise MmdataError(f"--limit must be at least 1, got {n}")
        keep: dict[str, set[int]] = {}
        for it in self.items:
            groups = keep.setdefault(it.language, set())
            if len(groups) < n:
                groups.add(it.group)
        items = [it for it in self.items if it.group in keep[it.language]]
        return Benchmark(self.name, self.path, items, self.circular, self.files)


def language_from_name(path: Path) -> str | None:
    """``MMMB_en.tsv`` → en, ``mmbench_dev_cn.tsv`` → zh; None when the name does not say."""
    suffix = path.stem.rsplit("_", 1)[-1].lower() if "_" in path.stem else ""
    return FILE_LANGUAGE_SUFFIX.get(suffix)


def normalise_language(value: str) -> str | None:
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return FILE_LANGUAGE_SUFFIX.get(code)


def _cell(row: list[str], col: int | None) -> str:
    if col is None:
        return ""
    v = row[col]
    return "" if v in _MISSING else v


def read_tsv(path: str | Path) -> list[Item]:
    """Read one VLMEvalKit-style TSV into Items (images decoded from base64, references resolved)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MmdataError("file not found", file=path) from None
    except UnicodeDecodeError as e:
        raise MmdataError(f"not UTF-8 text (byte {e.start})", file=path) from None
    except OSError as e:
        raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=path) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    try:
        header = next(reader)
    except StopIteration:
        raise MmdataError("empty file (expected a header row)", file=path) from None
    except csv.Error as e:
        raise MmdataError(f"malformed TSV header: {e}", file=path) from None
    cols: dict[str, int] = {}
    letters: list[tuple[str, int]] = []
    for i, name in enumerate(header):
        name = name.strip()
        if len(name) == 1 and "A" <= name <= "Z":
            letters.append((name, i))
        elif name:
            cols.setdefault(name.lower(), i)
    letters.sort()
    for required in ("index", "question", "answer"):
        if required not in cols:
            raise MmdataError(f"missing column (header has: {', '.join(header[:20])})", file=path, field=required)
    if len(letters) < 2:
        raise MmdataError("missing option columns (need at least A and B)", file=path, field="A")
    if "image" not in cols and "image_path" not in cols:
        raise MmdataError("missing column: need 'image' (base64) or 'image_path'", file=path, field="image")
    file_lang = language_from_name(path)
    if "language" not in cols and file_lang is None:
        raise MmdataError(
            "no 'language' column and the file name does not name a language (e.g. MMMB_en.tsv; one of "
            f"{', '.join(FILE_LANGUAGE_SUFFIX)})", file=path, field="language",
        )  # fmt: skip
    c_idx, c_q, c_ans = cols["index"], cols["question"], cols["answer"]
    c_hint, c_cat, c_l2, c_split = cols.get("hint"), cols.get("category"), cols.get("l2-category"), cols.get("split")
    c_lang, c_img, c_path, c_g = cols.get("language"), cols.get("image"), cols.get("image_path"), cols.get("g_index")
    extra_cols = [(h.strip(), i) for i, h in enumerate(header) if h.strip().lower() not in _STANDARD
                  and h.strip().lower() != "g_index" and (h.strip(), i) not in letters and h.strip()]  # fmt: skip
    width = len(header)
    items: list[Item] = []
    refs: list[tuple[Item, int]] = []
    by_key: dict[tuple[str, int], Item] = {}
    root = path.parent
    try:
        for n, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                raise MmdataError(f"line {n} has {len(row)} fields, the header has {width}", file=path)
            raw_idx = row[c_idx].strip()
            try:
                index = int(raw_idx)
            except ValueError:
                raise MmdataError(f"line {n}: expected an integer, got {raw_idx[:40]!r}", file=path, field="index") from None
            rec = f"index={index}"
            options = {}
            for letter, i in letters:
                v = _cell(row, i)
                if v:
                    options[letter] = v
            if len(options) < 2:
                raise MmdataError("fewer than two options", file=path, record=rec, field="A")
            ans = _cell(row, c_ans).strip().upper()
            if ans not in options:
                raise MmdataError(f"answer {ans!r} is not one of the options {''.join(options)}", file=path, record=rec, field="answer")
            lang = file_lang
            if c_lang is not None and _cell(row, c_lang):
                lang = normalise_language(row[c_lang])
                if lang is None:
                    raise MmdataError(f"unknown language {row[c_lang]!r}; expected one of {', '.join(LANGUAGES)}", file=path, record=rec, field="language")
            if lang is None:
                raise MmdataError("empty language and the file name does not name one", file=path, record=rec, field="language")
            group = index % CIRCULAR_STRIDE
            if c_g is not None and _cell(row, c_g):
                try:
                    group = int(row[c_g])
                except ValueError:
                    raise MmdataError(f"expected an integer, got {row[c_g][:40]!r}", file=path, record=rec, field="g_index") from None
            if (lang, index) in by_key:
                raise MmdataError(f"duplicate index for language {lang} in this file", file=path, record=rec, field="index")
            it = Item(index, _cell(row, c_q), options, ans, lang, _cell(row, c_hint), _cell(row, c_cat), _cell(row, c_l2),
                      _cell(row, c_split), group=group, extra={h: row[i] for h, i in extra_cols}, source=str(path))  # fmt: skip
            img = _cell(row, c_img).strip()
            if img and len(img) <= 64 and img.lstrip("-").isdigit():
                refs.append((it, int(img)))
            elif img:
                try:
                    it.image = base64.b64decode(img, validate=True)
                except (binascii.Error, ValueError):
                    raise MmdataError("invalid base64 image", file=path, record=rec, field="image") from None
                it.image_key = f"{path.name}#{lang}#{index}"
            elif _cell(row, c_path):
                rel = row[c_path].strip()
                p = safe_join(root, rel, file=path, record=rec, field="image_path")
                if not p.is_file():
                    raise MmdataError(f"image file {rel!r} not found next to the TSV", file=path, record=rec, field="image_path")
                it.image_path, it.image_key = p, str(p)
            else:
                raise MmdataError("row has no image (empty 'image' and 'image_path')", file=path, record=rec, field="image")
            by_key[(lang, index)] = it
            items.append(it)
    except csv.Error as e:
        raise MmdataError(f"malformed TSV: {e}", file=path) from None
    for it, target in refs:
        base = by_key.get((it.language, target))
        if base is None or (base.image is None and base.image_path is None):
            raise MmdataError(f"image refers to index {target}, which has no image in this file", file=path,
                              record=f"index={it.index}", field="image")  # fmt: skip
        it.image, it.image_path, it.image_key = base.image, base.image_path, base.image_key
    if not items:
        raise MmdataError("no rows", file=path)
    return items


def is_circular(items: list[Item]) -> bool:
    return any(it.index != it.group for it in items)


def load_benchmark(path: str | Path) -> Benchmark:
    """Load a benchmark: one TSV file, or a folder of TSVs (one per language)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.tsv") if not p.name.startswith("."))
        if not files:
            subs = sorted(p.name for p in path.iterdir() if p.is_dir() and any(p.glob("*.tsv")))
            hint = f"; pick one of its sets: {', '.join(str(path / s) for s in subs)}" if subs else ""
            raise MmdataError(f"no .tsv files in this folder{hint}", file=path)
        name = path.name
        spec = path.parent / "benchmark.json"
        if spec.is_file():
            info = load_json(spec)
            if isinstance(info, dict) and info.get("kind") == "mmdata-benchmark":
                name = f"{info['name']}/{path.name}"
    elif path.is_file():
        files, name = [path], path.stem
    else:
        raise MmdataError("benchmark not found (expected a .tsv file or a folder of them)", file=path)
    items: list[Item] = []
    seen: dict[tuple[str, int], Path] = {}
    for f in files:
        for it in read_tsv(f):
            if it.key in seen:
                raise MmdataError(f"language {it.language} index {it.index} also appears in {seen[it.key].name}",
                                  file=f, record=f"index={it.index}", field="index")  # fmt: skip
            seen[it.key] = f
            items.append(it)
    order = {lang: i for i, lang in enumerate(LANGUAGES)}
    items.sort(key=lambda it: order[it.language])  # stable: file order within a language
    return Benchmark(name, path, items, is_circular(items), files)


# ------------------------------------------------------------------------------------------ writer


def tsv_bytes(items: list[Item], *, with_language: bool = True) -> bytes:
    """Serialise Items as VLMEvalKit TSV with base64 images (files behind ``image_path`` are embedded).
    A row whose image was already written (same ``image_key``) stores that row's index instead of the
    base64 again, as MMBench's circular copies do."""
    letters = sorted({k for it in items for k in it.options})
    extra = list(dict.fromkeys(k for it in items for k in it.extra))
    header = ["index", "question", "hint", *letters, "answer", "category", "l2-category", "split"]
    header += ["language"] if with_language else []
    header += ["image", *extra]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    first_row: dict[str, int] = {}
    for it in items:
        if it.image_key in first_row:
            img = str(first_row[it.image_key])
        else:
            data = it.image if it.image is not None else it.image_path.read_bytes() if it.image_path else b""
            img = base64.b64encode(data).decode("ascii")
            first_row[it.image_key] = it.index
        row = [it.index, it.question, it.hint, *(it.options.get(k, "") for k in letters), it.answer, it.category,
               it.l2_category, it.split]  # fmt: skip
        row += [it.language] if with_language else []
        row += [img, *(it.extra.get(k, "") for k in extra)]
        w.writerow(row)
    return buf.getvalue().encode("utf-8")


def write_tsv(path: str | Path, items: list[Item], *, with_language: bool = True) -> Path:
    """Write Items atomically as one VLMEvalKit-style TSV file."""
    return atomic_write_bytes(path, tsv_bytes(items, with_language=with_language))
