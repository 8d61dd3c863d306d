"""The model's vocabulary as exact bytes, the form outlines-core needs to build a constraint.

Read straight from llama.cpp, one token at a time, with a buffer large enough for any token and
the real length llama.cpp reports. That avoids two bugs of outlines' own llama.cpp tokenizer
adapter: it drops tokens longer than 32 bytes, and it decodes byte tokens to text, so every
byte token that is not valid UTF-8 on its own collapses into the same replacement character.
Control tokens (chat markers, BOS, ...) are left out, so the constraint can never emit one
inside a JSON string; end-of-generation tokens are known separately.
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import outlines_core

from agentsmall.decoding import _cache

_SKIP_ATTRS = (
    llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
    | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    | llama_cpp.LLAMA_TOKEN_ATTR_UNUSED
)


_FORMAT = 1  # bump when what is extracted changes, to invalidate cached vocabularies


@dataclass(frozen=True)
class TokenVocabulary:
    """Token bytes by id, plus what decoding needs to know about special tokens."""

    pieces: tuple[bytes | None, ...]
    """Bytes of each token id; None for tokens that never appear in constrained text."""
    eos_token_id: int
    end_token_ids: frozenset[int]
    """Every end-of-generation token (EOS, end-of-turn, ...)."""
    fingerprint: str
    byte_tokens: dict[int, int] = field(default_factory=dict)
    """For each byte value, a token whose text is exactly that byte (if the vocabulary has one)."""
    _outlines: outlines_core.Vocabulary | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.pieces)

    @classmethod
    def cached_from_llama(cls, llm: llama_cpp.Llama, model_path: Path) -> TokenVocabulary:
        """`from_llama`, through the disk cache keyed by the model file's identity.

        Extraction walks every token (262k for Gemma 3); the result depends only on the file,
        which is identified by resolved path, size and modification time.
        """
        stat = model_path.stat()
        key = f"{_FORMAT}|{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        path = _cache.cache_dir("vocabularies") / (
            hashlib.sha256(key.encode()).hexdigest()[:32] + ".pickle"
        )
        cached = _cache.load(path)
        if isinstance(cached, dict) and cached.get("format") == _FORMAT:
            fields = {k: v for k, v in cached.items() if k != "format"}
            if len(fields["pieces"]) == llm.n_vocab():
                return cls(**fields)
        vocabulary = cls.from_llama(llm)
        _cache.store(
            path,
            {
                "format": _FORMAT,
                "pieces": vocabulary.pieces,
                "eos_token_id": vocabulary.eos_token_id,
                "end_token_ids": vocabulary.end_token_ids,
                "fingerprint": vocabulary.fingerprint,
                "byte_tokens": vocabulary.byte_tokens,
            },
        )
        return vocabulary

    @classmethod
    def from_llama(cls, llm: llama_cpp.Llama) -> TokenVocabulary:
        vocab = llm._model.vocab
        n_vocab = llm.n_vocab()
        buf = ctypes.create_string_buffer(1024)
        pieces: list[bytes | None] = []
        for token in range(n_vocab):
            if llama_cpp.llama_vocab_get_attr(vocab, token) & _SKIP_ATTRS:
                pieces.append(None)
                continue
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
            if n < 0:  # cannot happen with 1 KiB, but never truncate silently
                big = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(vocab, token, big, -n, 0, False)
                pieces.append(big.raw[:n] or None)
            else:
                pieces.append(buf.raw[:n] or None)
        end_ids = frozenset(t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t))
        eos = llm.token_eos()
        if eos < 0 and end_ids:
            eos = min(end_ids)
        digest = hashlib.sha256()
        for piece in pieces:
            digest.update(
                b"\x00" if piece is None else b"\x01" + len(piece).to_bytes(2, "big") + piece
            )
        digest.update(str(eos).encode())
        byte_tokens: dict[int, int] = {}
        for token, piece in enumerate(pieces):
            if piece is not None and len(piece) == 1:
                byte_tokens.setdefault(piece[0], token)
        return cls(tuple(pieces), eos, end_ids, digest.hexdigest()[:16], byte_tokens)

    def outlines(self) -> outlines_core.Vocabulary:
        """The same vocabulary as an outlines-core `Vocabulary` (built once, on first use)."""
        if self._outlines is None:
            by_bytes: dict[bytes, list[int]] = {}
            for token, piece in enumerate(self.pieces):
                if piece is not None and token != self.eos_token_id:
                    by_bytes.setdefault(piece, []).append(token)
            object.__setattr__(
                self, "_outlines", outlines_core.Vocabulary(self.eos_token_id, by_bytes)
            )
        assert self._outlines is not None
        return self._outlines
