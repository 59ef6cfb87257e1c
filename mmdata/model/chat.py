"""The one chat template, used by training, generation and the harness hook.

Vicuna-v1 style, written in plain text so that it works with any tokenizer (the world BPE or a real
local one)::

    <s>{system}\\n USER: <image>\\n{question}\\n ASSISTANT: {answer}</s>USER: …\\n ASSISTANT: {answer}</s>

(the spaces after ``\\n`` above are not in the template). Only assistant contents and their closing
``</s>`` are supervised. Each literal ``<image>`` (one per image of the row, all in the first user turn
that has any, per the mixture contract; a multi-image row starts ``<image>\\n<image>\\n…``) becomes a
run of ``n_image_tokens`` placeholder ids that the model overwrites with that image's visual tokens, in
order. Pieces are tokenized one by one, so training and generation see identical token sequences.

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
        if len(parts) > 1 and seen_image:
            raise ValueError(f"'{IMAGE}' must appear in one user turn only (the first one with images)")
        if len(parts) > 1 and role != "user":
            raise ValueError(f"'{IMAGE}' must be in a user turn, not {role!r}")
        seen_image = seen_image or len(parts) > 1
        pieces.append(Piece("text", head + parts[0]))
        for part in parts[1:]:  # one image piece per placeholder, in order
            pieces += [Piece("image"), Piece("text", part)]
        pieces[-1] = Piece("text", pieces[-1].text + "\n")
    if generation_prompt:
        pieces.append(Piece("text", ASSISTANT))
    return pieces


def prompt_turns(prompt: str, n_images: int | bool) -> list[dict]:
    """A single-turn prompt; the images go first in the turn (``<image>\\n`` per image, then the
    prompt), as in LLaVA and as the builder renders training rows."""
    return [{"role": "user", "content": f"{IMAGE}\n" * int(n_images) + prompt}]


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


def count_images(turns: list[dict]) -> int:
    """The number of ``<image>`` placeholders in a row's turns."""
    return sum(t["content"].count(IMAGE) for t in turns)


def has_image(turns: list[dict]) -> bool:
    return count_images(turns) > 0


def has_codes(pieces: list[Piece]) -> bool:
    return any(p.kind == "codes" for p in pieces)
