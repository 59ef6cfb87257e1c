"""Generic hub datasets on disk: a ``datasets.save_to_disk`` directory or parquet files, in either
of the two conversation layouts (:mod:`mmdata.sources.cauldron`, :mod:`mmdata.sources.llava_onevision`).

Accepted under PATH: a ``Dataset.save_to_disk`` directory (``state.json`` + ``dataset_info.json`` +
``data-0000N-of-0000M.arrow``), a ``DatasetDict.save_to_disk`` directory (``dataset_dict.json`` and
one such directory per split), or ``*.parquet`` files anywhere below PATH. The layout is detected
per file from its columns: ``images`` + ``texts`` → The Cauldron's; ``conversations`` → the
conversation layout (``image`` or ``images``); anything else is one error naming the file.
``record_id`` is the row's ``id`` where the layout has one, else ``<file path below PATH>:<row>``;
``extra.subset`` is the file's folder below PATH; the split comes from ``state.json``, the
DatasetDict split folder, or the shard name (``validation-00000-of-00001`` → val).
"""

from __future__ import annotations

from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import load_json, safe_join
from mmdata.sources.base import _tname
from mmdata.sources.cauldron import CAULDRON
from mmdata.sources.hub import TableAdapter, parquet_files, split_name
from mmdata.sources.hub import split_of as shard_split
from mmdata.sources.llava_onevision import CONVERSATIONS
from mmdata.sources.registry import register


def _saved_files(d: Path) -> list[Path]:
    """The arrow files a ``Dataset.save_to_disk`` directory lists in its ``state.json``."""
    state_f = d / "state.json"
    state = load_json(state_f)
    if not isinstance(state, dict) or not isinstance(state.get("_data_files"), list):
        raise MmdataError("expected an object with a _data_files list", file=state_f, field="_data_files")
    out = []
    for i, entry in enumerate(state["_data_files"]):
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise MmdataError(f"expected {{filename: string}}, got {_tname(entry)}", file=state_f, record=f"_data_files[{i}]")
        f = safe_join(d, name, file=state_f, record=f"_data_files[{i}]", field="filename")
        if not f.is_file():
            raise MmdataError(f"listed arrow file {name!r} is missing", file=state_f, record=f"_data_files[{i}]")
        out.append(f)
    if not out:
        raise MmdataError("lists no arrow files", file=state_f, field="_data_files")
    return out


class HF(TableAdapter):
    name = "hf"
    task = "v_inst"
    description = "Local hub datasets (save_to_disk or parquet) in The Cauldron's or the LLaVA conversation layout."
    layout = "save_to_disk dir (state.json + *.arrow), DatasetDict dir (dataset_dict.json), or *.parquet; layout from the columns"
    accepts = (
        "Dataset.save_to_disk: state.json + dataset_info.json + data-0000N-of-0000M.arrow",
        "DatasetDict.save_to_disk: dataset_dict.json + one such directory per split (split = its name)",
        "*.parquet files below PATH (hub exports: <config>/<split>-0000N-of-0000M.parquet)",
        "columns images + texts (The Cauldron) or conversations + image/images (LLaVA / OneVision), Image features embedded",
    )
    layouts = (CAULDRON, CONVERSATIONS)

    def files(self, path: Path) -> list[Path]:
        if path.is_file():
            if path.suffix not in (".parquet", ".arrow"):
                raise MmdataError("hf: expected a .parquet or .arrow file, or a directory", file=path)
            return [path]
        if path.is_dir() and (path / "dataset_dict.json").is_file():
            info_f = path / "dataset_dict.json"
            info = load_json(info_f)
            splits = info.get("splits") if isinstance(info, dict) else None
            if not isinstance(splits, list) or not splits or not all(isinstance(s, str) for s in splits):
                raise MmdataError("expected {splits: [names]}", file=info_f, field="splits")
            return [f for s in splits for f in _saved_files(safe_join(path, s, file=info_f, field="splits"))]
        if path.is_dir() and (path / "state.json").is_file():
            return _saved_files(path)
        if path.is_dir() and not any(path.rglob("*.parquet")):
            raise MmdataError(
                "hf: expected a datasets.save_to_disk directory (state.json + dataset_info.json + *.arrow), "
                "a DatasetDict directory (dataset_dict.json) or *.parquet files",
                file=path,
            )
        return parquet_files(self.name, path)

    def where(self, path: Path, f: Path) -> str:
        """The file's path below PATH without its suffix (hub exports nest ``<config>/data/…``)."""
        return f.stem if path.is_file() else f.relative_to(path).with_suffix("").as_posix()

    def subset_of(self, path: Path, f: Path) -> str | None:
        rel = "" if path.is_file() else f.parent.relative_to(path).as_posix()
        return None if rel in ("", ".") else rel

    def split_of(self, f: Path) -> str:
        if f.suffix == ".arrow":
            state = f.parent / "state.json"
            doc = load_json(state) if state.is_file() else None
            split = doc.get("_split") if isinstance(doc, dict) else None
            if isinstance(split, str) and split:
                return split_name(split)
            if (f.parent.parent / "dataset_dict.json").is_file():
                return split_name(f.parent.name)
            return "train"
        return shard_split(f)


register(HF())
