"""``mmdata tokenizer train | encode | decompress-data`` (registered by :mod:`mmdata.model.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer

from mmdata.errors import MmdataError
from mmdata.model.config import Aggregate, CodebookMode, DiscreteKind


def tokenizer_preset(preset: str, changes: dict, sets: list[str]):
    """The discrete preset ``preset`` with its ``discrete`` section changed by the command's options."""
    from mmdata.config import apply_overrides, read_mapping
    from mmdata.model.config import merge, preset_from_dict, resolve_preset

    path = resolve_preset(preset)
    doc = read_mapping(path, what="model preset")
    data = doc.data
    if not isinstance(data.get("discrete"), dict):
        raise MmdataError("tokenizers train on a discrete preset's backbones (one with a 'discrete' section, e.g. tiny-cpu-discrete)", file=path,
                          field="discrete")  # fmt: skip
    data["discrete"] = merge(data["discrete"], changes)
    apply_overrides(data, [f"discrete.{s}" for s in sets], file=path, doc=doc)
    return preset_from_dict(data, doc=doc)


def register(app: typer.Typer) -> None:
    tok = typer.Typer(help="Discrete visual tokenizers: train (VQ-VAE / SEED / k-means), encode images to codes, decompression data.",
                      no_args_is_help=True)  # fmt: skip
    app.add_typer(tok, name="tokenizer")

    @tok.command("train")
    def train_cmd(
        kind: DiscreteKind = typer.Option(..., "--kind", help="vqvae | seed | kmeans"),
        out: Path = typer.Option(..., "--out", help="Tokenizer directory to write (metrics.json inside)."),
        stacked: int = typer.Option(1, "--stacked", min=1, max=8, help="D codes per position (stacked quantization)."),
        aggregate: Aggregate = typer.Option("cumsum", "--aggregate", help="cumsum | concat: how a position's D codes combine."),
        codebook_mode: CodebookMode = typer.Option("none", "--codebook-mode", help="none | frozen-llm | dual | language-driven (UniCode; vqvae)."),
        codebook_size: int | None = typer.Option(None, "--codebook-size", min=2, max=65536, help="K codes (default: the preset's)."),
        steps: int | None = typer.Option(None, "--steps", min=1, help="Training steps (default: the preset's)."),
        seed: int | None = typer.Option(None, "--seed", min=0, help="Training seed (default: the preset's)."),
        preset: str = typer.Option("tiny-cpu-discrete", "--preset", help="Discrete preset giving the backbones (stage 0) and defaults."),
        images: Path | None = typer.Option(None, "--images", help="Train on the images under DIR (default: the stage-0 world's)."),
        sets: list[str] = typer.Option([], "--set", help="Override a key of the discrete section, e.g. --set train.lr=1e-3 (repeatable)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it is an mmdata output."),
    ) -> None:
        """Train a discrete visual tokenizer on a preset's stage-0 backbones; writes the tokenizer and metrics.json.

        Example: mmdata tokenizer train --kind vqvae --stacked 2 --codebook-mode language-driven --out tok
        """
        from mmdata import ui
        from mmdata.io import check_out
        from mmdata.model.tokenizers.train import train_from_preset

        changes: dict = {"kind": kind, "stacked": stacked, "aggregate": aggregate, "codebook_mode": codebook_mode, "tokenizer": None}
        if codebook_size is not None:
            changes["codebook_size"] = codebook_size
        train = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
        if train:
            changes["train"] = train
        p = tokenizer_preset(preset, changes, sets)
        check_out(out, overwrite=overwrite, inputs=[images])
        with ui.log_beside(out, f"tokenizer train --kind {kind}"):
            _, metrics = train_from_preset(p, out, images=images, overwrite=overwrite, log=ui.log.info)
            ui.log.info(f"wrote {out} (metrics.json: mse {metrics['recon_mse']:.5f}, psnr {metrics['psnr']:.2f} dB, usage {metrics['usage_pct']:.1f}%, "
                        f"perplexity {metrics['perplexity']:.1f}, dead codes {metrics['dead_codes']})")  # fmt: skip

    @tok.command("encode")
    def encode_cmd(
        tokenizer: Path = typer.Option(..., "--tokenizer", help="A directory written by `mmdata tokenizer train`."),
        images: Path = typer.Option(..., "--images", help="Encode every image (.jpg/.jpeg/.png) under DIR."),
        out: Path = typer.Option(..., "--out", help="Output directory: codes.jsonl + manifest.json."),
        batch_size: int = typer.Option(64, "--batch-size", min=1),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it is an mmdata output."),
    ) -> None:
        """Write the code map of every image: codes.jsonl (one line per image) and manifest.json.

        Example: mmdata tokenizer encode --tokenizer tok --images world/images/coco --out codes
        """
        from mmdata import ui
        from mmdata.io import check_out
        from mmdata.model.tokenizers.encode import encode_images

        check_out(out, overwrite=overwrite, inputs=[images, tokenizer])
        summary = encode_images(tokenizer, images, out, batch_size=batch_size, overwrite=overwrite)
        ui.log.info(f"wrote {summary['images']} code maps of shape {summary['shape']} to {out}")

    @tok.command("decompress-data")
    def decompress_cmd(
        out: Path = typer.Option(..., "--out", help="Source directory to write (e.g. WORLD/sources/decompress)."),
        world: Path | None = typer.Option(None, "--world", help="A world directory: its training-pool images."),
        images: Path | None = typer.Option(None, "--images", help="Or every image under DIR."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="At most N images."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it is an mmdata output."),
    ) -> None:
        """Write UniCode's in-context image-decompression task as a source (dataset `decompress`) for recipes.

        Example: mmdata tokenizer decompress-data --world world --out world/sources/decompress
        """
        from mmdata import ui
        from mmdata.io import check_out
        from mmdata.model.tokenizers.decompress import write_decompress_source

        check_out(out, overwrite=overwrite, inputs=[world, images])
        summary = write_decompress_source(out, world=world, images=images, limit=limit, overwrite=overwrite)
        ui.log.info(f"wrote {summary['conversations']} decompression conversations to {out} (recipe: {{dataset: decompress, path: {out}}})")
