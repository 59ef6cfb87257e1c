"""Models the harness can score: a small protocol and a registry of adapters keyed by exact prefix.

A model is anything with a ``name`` and ``generate(images, prompts) -> outputs`` over a batch: one list
of PIL images and one prompt per question, one output string per question, in order. Scripted models
that need the benchmark row itself (the oracle reads the answer) set ``uses_rows = True`` and then also
receive ``rows=`` (the batch's :class:`~mmdata.bench.tsv.Item` objects); no other model sees them.

=========================  ===================================================================
``oracle``                 answers the gold letter (tests: scores 100 %)
``random:SEED``            a uniformly random option letter, fixed per (seed, language, index)
``constant:LETTER``        always ``LETTER``
``hf:LOCAL_DIR``           a transformers image-text-to-text model, ``local_files_only=True``
``mmdata:CHECKPOINT_DIR``  the reference model (``mmdata.model.load_for_generation``)
``mmdata-choice:CKPT_DIR`` the reference model, answering by likelihood: the option whose taught
                           reply (the letter, for the benchmark's lettered options) is most probable
                           after the prompt (no free text, no extraction)
=========================  ===================================================================

The registry key is the text before the first ``:``, matched exactly (never by substring).

**Identity.** Every model has a fingerprint (:func:`model_fingerprint`): the content hash of its
directory for ``hf:``/``mmdata:``/``mmdata-choice:`` (:func:`fingerprint_dir`: file names and bytes,
nothing else), a hash of the spec for scripted models. Predictions are cached under it, so a checkpoint
retrained in the same folder is a different model. A checkpoint whose training has not finished
(``config.yaml`` step < total_steps; ``trainer_state.json`` global_step < max_steps for HF Trainer
folders) is refused unless ``allow_partial=True`` (``bench run --allow-partial``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mmdata.errors import MmdataError

if TYPE_CHECKING:
    from PIL import Image

    from mmdata.bench.tsv import Item

MAX_NEW_TOKENS = 16
PATH_MODELS = ("hf", "mmdata", "mmdata-choice")  # prefixes whose argument is a model directory


@runtime_checkable
class BenchModel(Protocol):
    name: str

    def generate(self, images: list[list[Image.Image]], prompts: list[str]) -> list[str]: ...


def generate(model: BenchModel, images: list[list[Image.Image]], prompts: list[str], rows: Sequence[Item]) -> list[str]:
    """Call ``model`` on one batch, passing the rows only to models that declare ``uses_rows``."""
    if getattr(model, "uses_rows", False):
        out = model.generate(images, prompts, rows=rows)
    else:
        out = model.generate(images, prompts)
    if not isinstance(out, list) or len(out) != len(prompts):
        got = f"{len(out)} outputs" if isinstance(out, list) else type(out).__name__
        raise MmdataError(f"model {model.name!r} returned {got} for a batch of {len(prompts)}")
    return [o if isinstance(o, str) else str(o) for o in out]


# ------------------------------------------------------------------------------------- identity


def fingerprint_dir(path: str | Path) -> str:
    """The content identity of a model directory (:func:`mmdata.cache.tree_digest`: every file's
    relative name and bytes, no sizes, times or absolute paths; file digests are memoised per process);
    a single file hashes as a directory holding only it."""
    from mmdata import cache

    p = Path(path)
    if p.is_file():
        return cache.files_digest([p])
    if not p.is_dir():
        raise MmdataError("model path not found", file=p)
    return cache.tree_digest(p)


def answer_method(model) -> str:
    """How a model answers: ``generate`` (free text, letter extracted) unless it says otherwise
    (``choice-auto``, ``choice-text``, …). Part of the prediction key, beside the fingerprint."""
    m = getattr(model, "answer_method", "generate")
    return m if isinstance(m, str) and m else "generate"


def fingerprint_spec(spec: str) -> str:
    """The fingerprint of a model defined by its spec alone (scripted models)."""
    return hashlib.sha256(b"mmdata-model-spec-v1\n" + spec.encode()).hexdigest()


def model_fingerprint(model: BenchModel) -> str:
    """``model.fingerprint`` when the model has one (directory models), else the hash of its name."""
    fp = getattr(model, "fingerprint", None)
    return fp if isinstance(fp, str) and fp else fingerprint_spec(model.name)


def training_progress(path: str | Path) -> tuple[int, int] | None:
    """(step, total steps) of a checkpoint directory, or None when it does not say.

    Reads an mmdata checkpoint's ``config.yaml`` (``step``, ``total_steps``) or an HF Trainer folder's
    ``trainer_state.json`` (``global_step``, ``max_steps``)."""
    p = Path(path)
    if (p / "config.yaml").is_file():
        from mmdata.config import read_yaml

        cfg = read_yaml(p / "config.yaml", what="checkpoint config").data
        if isinstance(cfg, dict) and isinstance(cfg.get("step"), int) and isinstance(cfg.get("total_steps"), int):
            return cfg["step"], cfg["total_steps"]
    if (p / "trainer_state.json").is_file():
        try:
            st = json.loads((p / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise MmdataError(f"cannot read the trainer state ({type(e).__name__})", file=p / "trainer_state.json") from None
        if isinstance(st, dict) and isinstance(st.get("global_step"), int) and isinstance(st.get("max_steps"), int):
            return st["global_step"], st["max_steps"]
    return None


def refuse_unfinished(path: str | Path) -> None:
    """One-line error for a checkpoint whose training has not reached its last step."""
    prog = training_progress(path) if Path(path).is_dir() else None
    if prog is not None and prog[0] < prog[1]:
        raise MmdataError(f"unfinished checkpoint (step {prog[0]} of {prog[1]}); finish training or pass "
                          "--allow-partial to score it anyway", file=path)  # fmt: skip


# ------------------------------------------------------------------------------------- scripted


class Oracle:
    uses_rows = True

    def __init__(self) -> None:
        self.name = "oracle"

    def generate(self, images, prompts, rows=()):
        return [r.answer for r in rows]


class RandomModel:
    uses_rows = True

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.name = f"random:{seed}"

    def generate(self, images, prompts, rows=()):
        # keyed by the row, not by call order: a resumed or re-batched run gives the same answers
        return [random.Random(f"{self.seed}/{r.language}/{r.index}").choice(sorted(r.options)) for r in rows]


class Constant:
    def __init__(self, letter: str) -> None:
        self.letter = letter
        self.name = f"constant:{letter}"

    def generate(self, images, prompts):
        return [self.letter] * len(prompts)


# ----------------------------------------------------------------------------------------- real


class HFModel:
    """A transformers image-text-to-text model from a local directory (never the Hub)."""

    def __init__(self, spec: str, path: str, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.name = spec
        self.max_new_tokens = max_new_tokens
        p = Path(path)
        if not (p / "config.json").is_file():
            raise MmdataError("not a transformers model directory (no config.json)", file=p)
        self.path = p
        self.fingerprint = fingerprint_dir(p)
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as e:  # pragma: no cover - transformers is a core dependency
            raise MmdataError(f"hf models need transformers: {e}") from None
        self.torch = torch
        try:
            self.processor = AutoProcessor.from_pretrained(p, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(p, local_files_only=True).eval()
        except (OSError, ValueError, KeyError) as e:
            raise MmdataError(f"cannot load an image-text-to-text model: {str(e).splitlines()[0]}", file=p) from None
        tok = getattr(self.processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # decoder-only generation needs left padding in a batch
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token

    def _text(self, n_images: int, prompt: str) -> str:
        if getattr(self.processor, "chat_template", None):
            content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": prompt}]
            msgs = [{"role": "user", "content": content}]
            return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        token = getattr(self.processor, "image_token", "<image>")
        return token * n_images + "\n" + prompt

    def generate(self, images, prompts):
        texts = [self._text(len(ims), p) for ims, p in zip(images, prompts, strict=True)]
        rgb = [[im.convert("RGB") for im in ims] for ims in images]
        kwargs = {"images": rgb} if any(rgb) else {}
        inputs = self.processor(text=texts, return_tensors="pt", padding=True, **kwargs)
        with self.torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        return [s.strip() for s in self.processor.batch_decode(new, skip_special_tokens=True)]


class MmdataModel:
    """The reference model, through ``mmdata.model.load_for_generation`` (imported lazily)."""

    def __init__(self, spec: str, path: str, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.name = spec
        self.max_new_tokens = max_new_tokens
        try:
            from mmdata.model import load_for_generation
        except ImportError:
            raise MmdataError(
                f"model {spec!r}: the reference model is not available in this install "
                "(mmdata.model.load_for_generation is missing)"
            ) from None
        if not Path(path).is_dir():
            raise MmdataError("checkpoint directory not found", file=path)
        self.path = Path(path)
        self.fingerprint = fingerprint_dir(path)  # before loading: what is scored is what was hashed
        self.model = load_for_generation(path)

    def generate(self, images, prompts):
        return self.model.generate(images, prompts, max_new_tokens=self.max_new_tokens)


class MmdataChoiceModel(MmdataModel):
    """The reference model answering by likelihood (:meth:`mmdata.model.inference.Generator.choose`);
    returns the chosen option's letter. It reads the rows for their options only, never the answer.

    ``scoring="auto"`` (the default) scores the reply that training taught for the prompt: the
    benchmark prompt lists lettered options, so the bare letter (as the ``vqa_mc`` training items
    teach). ``"text"`` asks the open question (:func:`~mmdata.bench.prompts.format_open`: hint, question and the
    short-answer instruction, no options: as VQA training teaches it) and scores the option texts."""

    uses_rows = True

    def __init__(self, spec: str, path: str, max_new_tokens: int = MAX_NEW_TOKENS, scoring: str = "auto") -> None:
        super().__init__(spec, path, max_new_tokens)
        from mmdata.bench.prompts import OPEN_PROMPT_VERSION
        from mmdata.model.inference import ChoiceScoring

        self.scoring = ChoiceScoring(scoring)
        self.answer_method = f"choice-{self.scoring.value}" + (f"-{OPEN_PROMPT_VERSION}" if self.scoring == "text" else "")

    def generate(self, images, prompts, rows=()):
        if self.scoring == "text":
            from mmdata.bench.prompts import format_open

            prompts = [format_open(r.question, r.language, r.hint) for r in rows]
        return self.model.choose(images, prompts, [dict(r.options) for r in rows], scoring=self.scoring)


# ------------------------------------------------------------------------------------- registry


def _oracle(arg: str | None, spec: str) -> BenchModel:
    if arg is not None:
        raise MmdataError(f"model {spec!r}: 'oracle' takes no argument")
    return Oracle()


def _random(arg: str | None, spec: str) -> BenchModel:
    try:
        return RandomModel(int(arg if arg is not None else 0))
    except ValueError:
        raise MmdataError(f"model {spec!r}: expected random:SEED with an integer seed") from None


def _constant(arg: str | None, spec: str) -> BenchModel:
    if arg is None or len(arg) != 1 or not ("A" <= arg <= "Z"):
        raise MmdataError(f"model {spec!r}: expected constant:LETTER with one capital letter, e.g. constant:A")
    return Constant(arg)


def _needs_path(kind: str, cls) -> Callable[[str | None, str], BenchModel]:
    def make(arg: str | None, spec: str) -> BenchModel:
        if not arg:
            raise MmdataError(f"model {spec!r}: expected {kind}:DIR")
        return cls(spec, arg)

    return make


REGISTRY: dict[str, Callable[[str | None, str], BenchModel]] = {
    "oracle": _oracle,
    "random": _random,
    "constant": _constant,
    "hf": _needs_path("hf", HFModel),
    "mmdata": _needs_path("mmdata", MmdataModel),
    "mmdata-choice": _needs_path("mmdata-choice", MmdataChoiceModel),
}
USAGE = "oracle, random:SEED, constant:LETTER, hf:LOCAL_DIR, mmdata:CHECKPOINT_DIR, mmdata-choice:CHECKPOINT_DIR"


def register(prefix: str, factory: Callable[[str | None, str], BenchModel]) -> None:
    """Add an adapter: ``factory(argument_after_colon_or_None, full_spec) -> BenchModel``."""
    REGISTRY[prefix] = factory


def resolve(spec: str, *, allow_partial: bool = False) -> BenchModel:
    """The model named by ``spec`` (``prefix`` or ``prefix:argument``); an unfinished checkpoint is an
    error unless ``allow_partial``."""
    prefix, sep, arg = spec.partition(":")
    factory = REGISTRY.get(prefix)
    if factory is None:
        raise MmdataError(f"unknown model {spec!r}; choose one of {USAGE}")
    if prefix in PATH_MODELS and arg and not allow_partial:
        refuse_unfinished(arg)
    return factory(arg if sep else None, spec)
