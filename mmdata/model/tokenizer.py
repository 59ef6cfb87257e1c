"""Tokenizers: a byte-level BPE trained offline on world text (stage 0), and one thin wrapper that
every part of the stack uses, whatever the tokenizer's origin (world BPE or a local HF directory)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIALS = ("<pad>", "<s>", "</s>")


def train_bpe(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE (``tokenizers``) over ``texts``; round-trips any Unicode text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def save_bpe(tok, out: str | Path) -> None:
    """Write a ``tokenizers`` object as a transformers tokenizer directory."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(str(out))


class TextTokenizer:
    """Encode text pieces without special tokens; expose bos / eos / pad ids; decode."""

    def __init__(self, hf) -> None:
        self.hf = hf
        self.eos_id = hf.eos_token_id
        self.bos_id = hf.bos_token_id
        pad = hf.pad_token_id
        self.pad_id = pad if pad is not None else (hf.unk_token_id if hf.unk_token_id is not None else self.eos_id)
        if self.eos_id is None:
            raise ValueError("the tokenizer has no eos token")
        self.vocab_size = len(hf)

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(path), local_files_only=True))

    def encode(self, text: str) -> list[int]:
        return self.hf(text, add_special_tokens=False)["input_ids"] if text else []

    def decode(self, ids) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)

    def save(self, out: str | Path) -> None:
        self.hf.save_pretrained(str(out))
