"""Text as categorical data: a sentence over a small fixed vocabulary."""

from __future__ import annotations

import torch

TEXT_VOCAB = "abcdefghijklmnopqrstuvwxyz0123456789 .,!?'-"


MASK_CHAR = "▮"


MAX_TEXT = 200


DEFAULT_TEXT = "diffusion models turn noise into data, one small step at a time."


def encode_text(text: str) -> torch.Tensor:
    """Characters to indices over TEXT_VOCAB (lower-cased); others are refused with a message."""
    text = str(text).lower()
    if not text.strip():
        raise ValueError("type a sentence to corrupt")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the sentence has {len(text)} characters; the limit is {MAX_TEXT}")
    unknown = sorted({c for c in text if c not in TEXT_VOCAB})
    if unknown:
        raise ValueError(f"characters outside the vocabulary: {''.join(unknown)!r} (letters, digits, space and .,!?'-)")
    return torch.tensor([TEXT_VOCAB.index(c) for c in text], dtype=torch.long)


def decode_text(x: torch.Tensor) -> str:
    return "".join(TEXT_VOCAB[i] if i < len(TEXT_VOCAB) else MASK_CHAR for i in x.tolist())
