"""A small word tokenizer for the raw-text path (embedding + text encoder).

Text is cleaned (typographic quotes, dashes and ellipses become their ASCII
forms), lowercased and split into words (with inner apostrophes: "don't",
"must've"), "..." and single punctuation marks. The vocabulary is a list
whose index is the token id:

    0 "<pad>"  left padding, never a real token
    1 "<unk>"  any word outside the vocabulary
    2 "<sep>"  separates the utterances of a dialogue context
    3...       the words, most frequent first (ties in alphabetical order)

`encode` left-pads to a fixed length and keeps the LAST `max_len` tokens, so
the end of the text (the target utterance of a dialogue) is never cut:

    tok = WordTokenizer.build(["I'm fine.", "I'm here!"])
    ids, n = tok.encode("I'm fine", max_len=5)   # ids = [0 0 0 3 6], n = 2

The runtimes must reproduce `clean_text` and `TOKEN_PATTERN` exactly.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import numpy as np

PAD, UNK, SEP = "<pad>", "<unk>", "<sep>"
PAD_ID, UNK_ID, SEP_ID = 0, 1, 2
SPECIALS = (PAD, UNK, SEP)

#: Words (letters/digits/underscore with inner apostrophes), "...", or one other non-space character.
TOKEN_PATTERN = re.compile(r"\w+(?:'\w+)*|\.\.\.|[^\w\s]")

_REPLACEMENTS = {
    "\u2019": "'", "\u2018": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2014": "-", "\u2013": "-", "\u2012": "-", "\u2010": "-",
    "\u2026": "...", "\u00a0": " ",
}
_TRANSLATION = str.maketrans(_REPLACEMENTS)


def clean_text(text: str) -> str:
    """Typographic punctuation to ASCII ("\u2019" -> "'", "\u2026" -> "..."), then lowercase."""
    if not isinstance(text, str):
        raise ValueError(f"expected a str, got {type(text).__name__}: {text!r:.60}")
    return text.translate(_TRANSLATION).lower()


class WordTokenizer:
    """Maps text to token ids with a fixed vocabulary (see the module docstring)."""

    def __init__(self, vocabulary: list[str]):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[:3]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {list(SPECIALS)}, got {vocabulary[:3]}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("the vocabulary has duplicate entries")
        self.vocabulary = vocabulary
        self.index = {w: i for i, w in enumerate(vocabulary)}

    # ------------------------------------------------------------- building
    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_size: int | None = None) -> "WordTokenizer":
        """A vocabulary of the words of `texts` seen at least `min_count` times.

        Words are ordered by count (descending), then alphabetically, so the
        result is deterministic. `max_size` caps the whole vocabulary,
        the three special tokens included.
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(cls.tokenize(text))
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        if max_size is not None:
            if max_size < len(SPECIALS):
                raise ValueError(f"max_size must be >= {len(SPECIALS)} (the special tokens), got {max_size}")
            words = words[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *words])

    @classmethod
    def from_vocabulary(cls, vocabulary: list[str]) -> "WordTokenizer":
        """A tokenizer for a saved vocabulary (e.g. `ModalitySpec.vocabulary`)."""
        return cls(vocabulary)

    def __len__(self) -> int:
        return len(self.vocabulary)

    # ------------------------------------------------------------- encoding
    @staticmethod
    def tokenize(text: str) -> list[str]:
        """The tokens of `text`: cleaned, lowercased words and punctuation."""
        return TOKEN_PATTERN.findall(clean_text(text))

    def ids(self, text: str) -> list[int]:
        """Token ids of `text`, unpadded (unknown words -> <unk>)."""
        return [self.index.get(t, UNK_ID) for t in self.tokenize(text)]

    def encode(self, text: str, max_len: int) -> tuple[np.ndarray, int]:
        """(ids, n): int64 ids of shape (max_len,), left-padded with 0, keeping the last
        `max_len` tokens; n is the number of valid (non-padding) tokens."""
        return _pad_left(self.ids(text), max_len)

    def encode_dialogue(self, context_texts: Iterable[str], target_text: str, max_len: int) -> tuple[np.ndarray, int]:
        """Like `encode` for "c1 <sep> c2 <sep> ... <sep> target" (contexts oldest first)."""
        if isinstance(context_texts, str):
            raise ValueError("context_texts must be a list of str, not one str")
        ids: list[int] = []
        for text in context_texts:
            ids += self.ids(text) + [SEP_ID]
        ids += self.ids(target_text)
        return _pad_left(ids, max_len)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of `ids`, padding dropped (for inspection)."""
        return [self.vocabulary[i] for i in ids if i != PAD_ID]


def _pad_left(ids: list[int], max_len: int) -> tuple[np.ndarray, int]:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    kept = ids[-max_len:]
    out = np.zeros(max_len, dtype=np.int64)
    if kept:
        out[max_len - len(kept):] = kept
    return out, len(kept)
