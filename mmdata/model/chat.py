"""The one chat template, used by training, generation and the harness hook.

Vicuna-v1 style, written in plain text so that it works with any tokenizer (the world BPE or a real
local one)::

    <s>{system}\\n USER: <image>\\n{question}\\n ASSISTANT: {answer}</s>USER: …\\n ASSISTANT: {answer}</s>

(the spaces after ``\\n`` above are not in the template). Only assistant contents and their closing
``</s>`` are supervised. The literal ``<image>`` (once, in the first user turn, per the mixture
contract) becomes a run of ``n_image_tokens`` placeholder ids that the model overwrites with visual
tokens. Pieces are tokenized one by one, so training and generation see identical token sequences.

Discrete-token models also accept UniCode's in-context image decompression: an assistant turn that is
exactly ``<image-codes>`` (anywhere else it is plain text) becomes a supervised run of ``n_code_tokens`` placeholder ids; the model
fills them with the image's own ĥ·ŵ·D visual codes (as input tokens and as targets), so one mixture
serves every tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE = "<image>"
IMAGE_TOKEN_ID = -200  # placeholder id in input_ids (never looked up in the embedding table)
CODES = "<image-codes>"  # an assistant turn standing for the image's full visual code sequence
CODES_TOKEN_ID = -201  # placeholder id of one visual code in input_ids (and, shifted, in labels)
IGNORE = -100
USER, ASSISTANT = "USER: ", "ASSISTANT: "


@dataclass(frozen=True)
class Piece:
    kind: str  # "text" | "image" | "codes" | "bos" | "eos"
    text: str = ""
    supervised: bool = False


def render(turns: list[dict], *, generation_prompt: bool = False) -> list[Piece]:
    """Turns (``{"role", "content"}``) → pieces. ``generation_prompt`` ends with the assistant prefix."""
    pieces = [Piece("bos")]
    seen_image = False
    for t in turns:
        role, content = t["role"], t["content"]
        if role == "assistant":
            if IMAGE in content:
                raise ValueError(f"'{IMAGE}' must be in a user turn, not in an assistant turn")
            if content.strip() == CODES:
                if not seen_image:
                    raise ValueError(f"'{CODES}' must follow the '{IMAGE}' it decompresses")
                pieces += [Piece("text", ASSISTANT), Piece("codes", supervised=True), Piece("eos", supervised=True)]
                continue
            pieces += [Piece("text", ASSISTANT), Piece("text", content, True), Piece("eos", supervised=True)]
            continue
        head = USER if role == "user" else ""
        parts = content.split(IMAGE)
        if len(parts) > 2 or (len(parts) == 2 and seen_image):
            raise ValueError(f"'{IMAGE}' must appear once, in the first user turn")
        if len(parts) == 2:
            if role != "user":
                raise ValueError(f"'{IMAGE}' must be in a user turn, not {role!r}")
            seen_image = True
            pieces += [Piece("text", head + parts[0]), Piece("image"), Piece("text", parts[1] + "\n")]
        else:
            pieces.append(Piece("text", head + content + "\n"))
    if generation_prompt:
        pieces.append(Piece("text", ASSISTANT))
    return pieces


def prompt_turns(prompt: str, with_image: bool) -> list[dict]:
    """A single-turn prompt; the image goes first in the turn (``<image>\\n`` + prompt), as in LLaVA."""
    return [{"role": "user", "content": f"{IMAGE}\n{prompt}" if with_image else prompt}]


def encode(tok, pieces: list[Piece], n_image_tokens: int, n_code_tokens: int | None = None) -> tuple[list[int], list[bool]]:
    """Pieces → token ids and a per-token 'supervised' flag (not shifted). ``n_code_tokens`` is the
    length of an image's code sequence (discrete-token models; None: ``<image-codes>`` is an error)."""
    ids: list[int] = []
    sup: list[bool] = []
    for p in pieces:
        if p.kind == "text":
            t = tok.encode(p.text)
        elif p.kind == "image":
            t = [IMAGE_TOKEN_ID] * n_image_tokens
        elif p.kind == "codes":
            if n_code_tokens is None:
                raise ValueError(f"'{CODES}' (image decompression) needs a discrete-token model (visual: discrete)")
            t = [CODES_TOKEN_ID] * n_code_tokens
        elif p.kind == "bos":
            t = [tok.bos_id] if tok.bos_id is not None else []
        else:
            t = [tok.eos_id]
        ids += t
        sup += [p.supervised] * len(t)
    return ids, sup


def has_image(turns: list[dict]) -> bool:
    return any(IMAGE in t["content"] for t in turns)


def has_codes(pieces: list[Piece]) -> bool:
    return any(p.kind == "codes" for p in pieces)
