"""Streaming mixture loader: Parquet shards of Conversation rows → model batches.

Reads a mixture directory exactly as ``docs/mixture.md`` defines it: ``data/*.parquet`` in name
order (row order is the training order), image paths relative to
``manifest.json["image_roots"][dataset]``. Rows are read a row group at a time (never the whole
mixture), tokenized with the chat template, and their images decoded (one visual-token run per ``<image>``
placeholder; a row may carry several) — all inside DataLoader worker processes.

Positions are absolute, which makes resume exact and DDP sharding trivial: the sample stream is the
mixture repeated forever (``i ↦ row i mod n_rows``); global batch ``b`` holds samples
``[b·G, (b+1)·G)`` with ``G = batch_size·world``, and rank ``r`` takes those with ``i ≡ r (mod
world)``. Worker ``w`` of ``W`` builds this rank's batches ``start+w, start+w+W, …``, and the
DataLoader returns them in order. With ``packing`` the samples of a batch are packed first-fit-
decreasing into as few rows of ``max_len`` as possible (positions restart per sample, and
``segment_ids`` give the model a block-diagonal causal mask, so attention never crosses samples).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import torch
from PIL import Image

from mmdata.errors import MmdataError
from mmdata.io import load_json, safe_join
from mmdata.model import chat

COLUMNS = ["id", "images", "turns", "dataset", "language"]


@dataclass(frozen=True)
class Mixture:
    root: Path
    files: tuple[Path, ...]
    starts: tuple[int, ...]  # first global row of each (file, row group), in order
    groups: tuple[tuple[int, int], ...]  # (file index, row group)
    n_rows: int
    image_roots: dict

    @staticmethod
    def open(root: str | Path) -> Mixture:
        root = Path(root)
        if not root.is_dir():
            raise MmdataError("mixture directory not found", file=root)
        manifest = load_json(root / "manifest.json")
        roots = manifest.get("image_roots") if isinstance(manifest, dict) else None
        if not isinstance(roots, dict):
            raise MmdataError("manifest has no 'image_roots' mapping", file=root / "manifest.json", field="image_roots")
        files = tuple(sorted((root / "data").glob("*.parquet")))
        if not files:
            raise MmdataError("mixture has no data/*.parquet shards", file=root / "data")
        starts, groups, n = [], [], 0
        for fi, f in enumerate(files):
            try:
                pf = pq.ParquetFile(f)
            except Exception as e:  # pyarrow raises several types for a bad file
                raise MmdataError(f"cannot read Parquet metadata ({type(e).__name__})", file=f) from None
            md = pf.metadata
            missing = [c for c in COLUMNS if c not in pf.schema_arrow.names]
            if missing:
                raise MmdataError(f"not Conversation rows: missing column(s) {missing}", file=f, field=missing[0])
            for rg in range(md.num_row_groups):
                starts.append(n)
                groups.append((fi, rg))
                n += md.row_group(rg).num_rows
        if n == 0:
            raise MmdataError("mixture has no rows", file=root / "data")
        return Mixture(root, files, tuple(starts), tuple(groups), n, roots)


class RowReader:
    """Random access to rows, one row group in memory at a time (per process)."""

    def __init__(self, mix: Mixture) -> None:
        self.mix = mix
        self._files: dict[int, pq.ParquetFile] = {}
        self._cached: tuple[int, list[dict]] | None = None

    def row(self, i: int) -> dict:
        mix = self.mix
        g = bisect.bisect_right(mix.starts, i) - 1
        if self._cached is None or self._cached[0] != g:
            fi, rg = mix.groups[g]
            if fi not in self._files:
                self._files[fi] = pq.ParquetFile(mix.files[fi])
            self._cached = (g, self._files[fi].read_row_group(rg, columns=COLUMNS).to_pylist())
        return self._cached[1][i - mix.starts[g]]


@dataclass
class Sample:
    ids: list[int]
    sup: list[bool]
    images: list[torch.Tensor]  # one per ``<image>`` run in ``ids``, in order
    language: str


class Encoder:
    """One Conversation row → token ids, supervision flags and its decoded images (one visual-token
    run per ``<image>`` placeholder, in order; k = ``len(row["images"])``)."""

    def __init__(self, tokenizer, transform, n_visual_tokens: int, max_len: int, image_roots: dict, source: str,
                 n_code_tokens: int | None = None) -> None:  # fmt: skip
        self.tok, self.transform, self.n_vis, self.max_len = tokenizer, transform, n_visual_tokens, max_len
        self.image_roots, self.source, self.n_codes = image_roots, source, n_code_tokens

    def __call__(self, row: dict) -> Sample:
        turns = row["turns"]
        try:
            pieces = chat.render(turns)
        except ValueError as e:
            raise MmdataError(str(e), file=self.source, record=row["id"], field="turns") from None
        n_ph, refs = chat.count_images(turns), row["images"] or []
        if n_ph != len(refs):
            raise MmdataError(f"has {n_ph} '<image>' placeholder(s) for {len(refs)} image(s)", file=self.source, record=row["id"], field="images")
        try:
            ids, sup = chat.encode(self.tok, pieces, self.n_vis if n_ph else 0, self.n_codes)
        except ValueError as e:
            raise MmdataError(str(e), file=self.source, record=row["id"], field="turns") from None
        if len(ids) > self.max_len:  # truncate the tail; never cut through an image run or a code run
            cut = self.max_len
            for placeholder in (chat.IMAGE_TOKEN_ID, chat.CODES_TOKEN_ID):
                while ids[cut] == placeholder and cut > 0 and ids[cut - 1] == placeholder:
                    cut -= 1  # back to the start of the run the cut falls in
            ids, sup = ids[:cut], sup[:cut]
            refs = refs[: ids.count(chat.IMAGE_TOKEN_ID) // max(self.n_vis, 1)]  # images whose run survived
        return Sample(ids, sup, [self._image(row, ref) for ref in refs], row["language"])

    def _image(self, row: dict, ref: dict) -> torch.Tensor:
        root = self.image_roots.get(row["dataset"])
        if root is None:
            raise MmdataError(f"no image root for dataset {row['dataset']!r} in manifest.json", file=self.source, record=row["id"], field="image_roots")
        path = safe_join(root, ref["path"], file=self.source, record=row["id"], field="images")
        try:
            with Image.open(path) as im:
                return self.transform(im)
        except FileNotFoundError:
            raise MmdataError(f"image not found: {path}", file=self.source, record=row["id"], field="images") from None
        except (OSError, ValueError) as e:
            raise MmdataError(f"cannot decode image {path} ({type(e).__name__})", file=self.source, record=row["id"], field="images") from None


def collate(samples: list[Sample], pad_id: int, max_len: int, packing: bool) -> dict:
    """Samples → one batch (see :class:`mmdata.model.vlm.VLM.forward` for the keys)."""
    if packing:
        rows: list[list[int]] = []
        loads: list[int] = []
        for k in sorted(range(len(samples)), key=lambda k: -len(samples[k].ids)):
            n = len(samples[k].ids)
            for r, used in enumerate(loads):
                if used + n <= max_len:
                    rows[r].append(k)
                    loads[r] += n
                    break
            else:
                rows.append([k])
                loads.append(n)
        rows = [sorted(r) for r in rows]
        rows.sort(key=lambda r: r[0])
    else:
        rows = [[k] for k in range(len(samples))]
    width = max(sum(len(samples[k].ids) for k in r) for r in rows)
    shape = (len(rows), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, chat.IGNORE, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    segment_ids = torch.zeros(shape, dtype=torch.long)
    prompt_mask = torch.zeros(shape, dtype=torch.bool)
    images, image_row, image_segment, image_sample, image_lang, langs = [], [], [], [], [], []
    n_tokens = 0
    for r, members in enumerate(rows):
        at = 0
        for seg, k in enumerate(members, start=1):
            s = samples[k]
            n = len(s.ids)
            ids = torch.tensor(s.ids, dtype=torch.long)
            sup = torch.tensor(s.sup, dtype=torch.bool)
            input_ids[r, at : at + n] = ids
            lab = torch.where(sup, ids, torch.full_like(ids, chat.IGNORE))
            labels[r, at : at + n - 1] = lab[1:]  # position t predicts token t+1
            position_ids[r, at : at + n] = torch.arange(n)
            segment_ids[r, at : at + n] = seg
            prompt_mask[r, at : at + n] = ~sup & (ids != chat.IMAGE_TOKEN_ID)
            for image in s.images:  # row-major, in placeholder order: the order the model splices them in
                images.append(image)
                image_row.append(r)
                image_segment.append(seg)
                image_sample.append(k)
                image_lang.append(s.language)
            langs.append(s.language)
            at += n
            n_tokens += n
        if at < width:  # padding continues the last positions, so it never forms a separate segment
            nxt = int(position_ids[r, at - 1]) + 1
            position_ids[r, at:] = torch.arange(nxt, nxt + width - at)
    batch = {
        "input_ids": input_ids, "labels": labels, "position_ids": position_ids, "segment_ids": segment_ids,
        "prompt_mask": prompt_mask, "n_samples": len(samples), "n_tokens": n_tokens, "languages": langs, "image_lang": image_lang,
    }  # fmt: skip
    if images:
        batch["pixel_values"] = torch.stack(images)
        batch["image_row"] = torch.tensor(image_row, dtype=torch.long)
        batch["image_segment"] = torch.tensor(image_segment, dtype=torch.long)
        batch["image_sample"] = torch.tensor(image_sample, dtype=torch.long)  # index of the image's sample in the batch
    return batch


class MixtureStream(torch.utils.data.IterableDataset):
    """This rank's micro-batches from micro-batch ``start`` on, forever (see module docstring)."""

    def __init__(self, mix: Mixture, encoder: Encoder, batch_size: int, pad_id: int, *, rank: int = 0, world: int = 1,
                 start: int = 0, packing: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.mix, self.encoder, self.batch_size, self.pad_id = mix, encoder, batch_size, pad_id
        self.rank, self.world, self.start, self.packing = rank, world, start, packing
        self._reader: RowReader | None = None

    def indices(self, b: int) -> list[int]:
        g = self.batch_size * self.world
        return [(b * g + self.rank + k * self.world) % self.mix.n_rows for k in range(self.batch_size)]

    def batch(self, b: int) -> dict:
        if self._reader is None:
            self._reader = RowReader(self.mix)
        samples = [self.encoder(self._reader.row(i)) for i in self.indices(b)]
        out = collate(samples, self.pad_id, self.encoder.max_len, self.packing)
        out["index"] = b
        return out

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        w, n = (info.id, info.num_workers) if info is not None else (0, 1)
        b = self.start + w
        while True:
            yield self.batch(b)
            b += n


def loader(stream: MixtureStream, num_workers: int, pin_memory: bool = False):
    """Batches in order, built by ``num_workers`` processes (0: in this process). The workers start
    (and draw their seed from the torch RNG) here, not at the first batch."""
    kw = {"prefetch_factor": 4, "persistent_workers": False} if num_workers else {}
    it = iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers, pin_memory=pin_memory, **kw))
    return _one_line_errors(it)


def _one_line_errors(it):
    while True:
        try:
            yield next(it)
        except MmdataError as e:  # from a worker it arrives as its traceback text: keep the one-line message
            raise MmdataError(str(e).rsplit("MmdataError: ", 1)[-1]) from None
