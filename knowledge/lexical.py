"""The lexical channel: BM25 over the terms of ``knowledge.text.tokenize``.

Catches what embeddings blur: product names and codes, prices, exact numbers. Built from
the database; ``save`` / ``load`` keep a built index on disk under a digest of its
content, so a start-up with unchanged texts memory-maps it instead of building it (at
100k chunks that is 6 s and a ~0.5 GB peak of temporary arrays saved).

Scoring is BM25 in its Lucene form (the default of ``bm25s``, and the tests check the
scores against it)::

    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
    score(q, d) = Σ_t∈q idf(t) · tf / (tf + k1 · (1 - b + b · |d| / avg|d|))

The index is built with whole-corpus numpy operations instead of ``bm25s.index``: terms
are encoded as integers straight from the code points (a CJK unigram is its code point,
a bigram packs two), so no per-term Python string is created. Measured at 10k chunks of
~200 characters on two cores: ~1 s here against ~7 s for ``bm25s.index`` with
``tokenize`` (see ``bench/knowledge_speed.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from knowledge.text import CJK_RANGES, STOP_CHARS, WORD, normalize

__all__ = ["LexicalIndex", "term_keys"]

log = logging.getLogger(__name__)

_BITS = 18  # every CJK code point (≤ U+3134F) fits in 18 bits
_WORD_BASE = 1 << (2 * _BITS)  # above every bigram key
_STOP_CODES = np.array(sorted(ord(ch) for ch in STOP_CHARS), dtype=np.int64)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)
#: Documents turned into (term, doc) pairs at a time while building.
_BUILD_SLICE = 8192
#: With a filter, ``search`` first ranks this many times ``k`` candidates.
_FILTERED_FETCH = 4
#: Version of the terms and the saved layout: bump it when ``term_keys`` or
#: ``knowledge.text.normalize`` change, so that saved indexes are rebuilt.
FORMAT = 1
_ARRAYS = ("vocab", "indptr", "docs", "weights")
_DTYPES = {"vocab": np.int64, "indptr": np.int64, "docs": np.int32, "weights": np.float32}
#: A temporary save folder older than this was left by a process that died.
_STALE_TMP_S = 3600.0


@dataclass(frozen=True, slots=True)
class _Postings:
    """An immutable index snapshot: term keys (sorted) → postings (doc, weight)."""

    ids: list[str] = field(default_factory=list)
    words: dict[str, int] = field(default_factory=dict)
    vocab: np.ndarray = field(default_factory=lambda: _EMPTY_I64)
    indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    docs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))


class LexicalIndex:
    """BM25 over CJK character unigrams + bigrams and whole non-CJK words."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._index = _Postings()

    def __len__(self) -> int:
        return len(self._index.ids)

    def build(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Replace the index with ``texts`` known by ``ids``.

        Searches running meanwhile see either the old or the new index, never a mix.
        """
        if len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        n_docs = len(ids)
        if n_docs >= 1 << 26:  # keys * n_docs must fit in int64
            raise ValueError("the lexical index holds at most 67 million documents")
        words: dict[str, int] = {}
        # (term, doc) pairs with their term frequency, a slice of documents at a time: the
        # per-character arrays of the whole corpus took ~1.3 GB at 100k chunks.
        pair_parts: list[np.ndarray] = []
        tf_parts: list[np.ndarray] = []
        doc_len = np.zeros(n_docs, dtype=np.float64)
        for start in range(0, n_docs, _BUILD_SLICE):
            keys, docs = term_keys(texts[start : start + _BUILD_SLICE], words)
            if keys.size == 0:
                continue
            docs += start
            part, part_tf = np.unique(keys * n_docs + docs, return_counts=True)
            pair_parts.append(part)
            tf_parts.append(part_tf.astype(np.int32))
            doc_len += np.bincount(docs, minlength=n_docs)
            del keys, docs
        if not pair_parts:
            self._index = _Postings(ids=list(ids))
            return
        pairs = np.concatenate(pair_parts)
        tf = np.concatenate(tf_parts)
        del pair_parts, tf_parts
        if len(tf) and np.any(pairs[1:] < pairs[:-1]):  # each slice is sorted, not the union
            order = np.argsort(pairs, kind="stable")
            pairs, tf = pairs[order], tf[order]
            del order
        # Postings per term. Kept to a few bytes per pair: at 100k chunks there are ~18M.
        pair_docs = (pairs % n_docs).astype(np.int32)
        pairs //= n_docs  # now the term of each pair
        starts = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
        vocab = pairs[starts]
        del pairs
        df = np.diff(np.append(starts, pair_docs.size))
        avg_len = float(doc_len.mean()) or 1.0
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        relative_len = (doc_len / avg_len).astype(np.float32)
        norm = relative_len[pair_docs]
        norm *= self.k1 * self.b
        norm += self.k1 * (1.0 - self.b)
        weights = tf.astype(np.float32)
        del tf
        norm += weights
        weights /= norm
        del norm
        weights *= np.repeat(idf, df)
        self._index = _Postings(
            ids=list(ids),
            words=words,
            vocab=vocab,
            indptr=np.append(starts, pair_docs.size),
            docs=pair_docs,
            weights=weights,
        )
        log.debug("lexical index: %d documents, %d terms", n_docs, vocab.size)

    def digest(self, ids: Sequence[str], texts: Sequence[str]) -> str:
        """Identifies the index ``build(ids, texts)`` makes (with these parameters)."""
        h = hashlib.blake2b(f"{FORMAT}:{self.k1!r}:{self.b!r}:{len(ids)}".encode(), digest_size=20)
        for id_, text in zip(ids, texts, strict=True):
            h.update(f"\x00{id_}\x00{text}".encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def save(self, directory: Path, digest: str) -> None:
        """Keep the index in ``directory/<digest>`` for ``load``; other digests there are
        removed. The folder appears whole or not at all (written aside, then renamed),
        and is never changed afterwards, so other processes may map it meanwhile."""
        index = self._index
        target = directory / digest
        if not (target / "meta.json").is_file():
            shutil.rmtree(target, ignore_errors=True)  # a damaged save of the same digest
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".{digest}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for name in _ARRAYS:
                with _synced(tmp / f"{name}.npy") as fh:
                    np.save(fh, getattr(index, name), allow_pickle=False)
            meta: dict[str, object] = {"format": FORMAT, "k1": self.k1, "b": self.b}
            meta |= {"ids": index.ids, "words": index.words}
            with _synced(tmp / "meta.json") as fh:
                fh.write(json.dumps(meta, ensure_ascii=False).encode("utf-8"))
            try:
                tmp.rename(target)
            except OSError:  # another process saved the same digest first
                shutil.rmtree(tmp, ignore_errors=True)
            _sync_directory(directory)
        stale = time.time() - _STALE_TMP_S
        for other in directory.iterdir():
            if other.name == target.name:
                continue
            # Temporary folders are another process's save in progress, unless old.
            if not other.name.endswith(".tmp") or other.stat().st_mtime < stale:
                shutil.rmtree(other, ignore_errors=True)

    def load(self, directory: Path, digest: str) -> bool:
        """Replace the index with the one saved under ``digest`` (memory-mapped, read
        only); False, leaving the index as it was, when there is none or it is damaged
        (a damaged one is deleted, so that the next ``save`` replaces it)."""
        folder = directory / digest
        if not folder.exists():
            return False
        try:
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
            arrays = {
                name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in _ARRAYS
            }
            ids, words = list(meta["ids"]), dict(meta["words"])
            ok = (meta["format"], meta["k1"], meta["b"]) == (FORMAT, self.k1, self.b)
            ok = ok and all(arrays[n].dtype == _DTYPES[n] and arrays[n].ndim == 1 for n in _ARRAYS)
            ok = ok and arrays["indptr"].size == arrays["vocab"].size + 1
            ok = ok and arrays["docs"].size == arrays["weights"].size == int(arrays["indptr"][-1])
        except Exception as exc:  # numpy raises EOFError, ValueError, OSError … on damage
            ok, problem = False, f"is unreadable ({type(exc).__name__}: {exc})"
        else:
            problem = "does not match its description"
        if not ok:
            log.warning("saved lexical index %s %s: building it again", folder, problem)
            shutil.rmtree(folder, ignore_errors=True)
            return False
        self._index = _Postings(ids=ids, words=words, **arrays)
        return True

    def scores(self, text: str) -> np.ndarray:
        """The BM25 score of every document (in build order) for query ``text``."""
        index = self._index
        total = np.zeros(len(index.ids), dtype=np.float32)
        keys, _ = term_keys([text], index.words, grow=False)
        if keys.size == 0 or index.vocab.size == 0:
            return total
        query = np.unique(keys)
        slots = np.searchsorted(index.vocab, query)
        inside = slots < index.vocab.size
        slots = slots[inside]
        slots = slots[index.vocab[slots] == query[inside]]
        if slots.size == 0:
            return total
        spans = [slice(index.indptr[s], index.indptr[s + 1]) for s in slots]
        docs = np.concatenate([index.docs[span] for span in spans])
        weights = np.concatenate([index.weights[span] for span in spans])
        return np.bincount(docs, weights=weights, minlength=len(index.ids)).astype(np.float32)

    def search(
        self,
        text: str,
        k: int,
        allowed: Callable[[str], bool] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``k`` best documents for ``text`` as ``(id, BM25 score)``, best first.

        Only documents sharing at least one term with the query (score > 0) and, when
        ``allowed`` is given, whose id it accepts. Equal scores keep build order.
        """
        ids = self._index.ids
        if k <= 0 or not ids:
            return []
        scores = self.scores(text)
        matching = np.flatnonzero(scores > 0)
        # Sort only the best candidates: at 100k chunks a frequent character matches
        # nearly every document, and sorting them all took ~8 ms (bench/scale.py). Taken
        # are the documents scoring at least the ``want``-th best score, ties included, so
        # the order is that of a full sort; a filter rejecting too many widens the cut.
        want = k if allowed is None else _FILTERED_FETCH * k
        while True:
            chosen = matching
            if matching.size > want:
                cut = np.partition(scores[matching], matching.size - want)[matching.size - want]
                chosen = matching[scores[matching] >= cut]
            order = chosen[np.lexsort((chosen, -scores[chosen]))]
            hits: list[tuple[str, float]] = []
            for index in order:
                doc_id = ids[index]
                if allowed is None or allowed(doc_id):
                    hits.append((doc_id, float(scores[index])))
                    if len(hits) >= k:
                        return hits
            if chosen.size == matching.size:
                return hits
            want *= 4


@contextmanager
def _synced(path: Path) -> Iterator[BinaryIO]:
    """A file opened for writing, flushed to disk on close (a save must survive a power
    cut whole)."""
    with path.open("wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def term_keys(
    texts: Sequence[str], words: dict[str, int], *, grow: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The integer terms of ``texts`` (normalised here) and the text index of each.

    The same terms as ``knowledge.text.tokenize``, encoded: a CJK unigram is its code
    point, a bigram ``(first << 18) | second``, a word ``2**36 + words[word]``. New
    words are added to ``words`` when ``grow`` is true, skipped otherwise.
    """
    if not texts:
        return _EMPTY_I64, _EMPTY_I64
    normalised = [normalize(text) for text in texts]
    # One pass over the whole corpus; "\n" (absent from normalised text) separates texts.
    joined = "\n".join(normalised)
    if not joined.strip():
        return _EMPTY_I64, _EMPTY_I64
    lengths = np.fromiter((len(text) + 1 for text in normalised), dtype=np.int64)
    text_of_char = np.repeat(np.arange(len(normalised), dtype=np.int64), lengths)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    cjk = np.zeros(codes.size, dtype=bool)
    for low, high in CJK_RANGES:
        cjk |= (codes >= low) & (codes <= high)
    unigram_at = np.flatnonzero(cjk & ~np.isin(codes, _STOP_CODES))
    bigram_at = np.flatnonzero(cjk[:-1] & cjk[1:])
    word_at: list[int] = []
    word_ids: list[int] = []
    for match in WORD.finditer(joined):
        word = match.group()
        word_id = words.get(word)
        if word_id is None:
            if not grow:
                continue
            word_id = words[word] = len(words)
        word_at.append(match.start())
        word_ids.append(word_id)
    keys = np.concatenate(
        [
            codes[unigram_at],
            (codes[bigram_at] << _BITS) | codes[bigram_at + 1],
            _WORD_BASE + np.asarray(word_ids, dtype=np.int64),
        ]
    )
    positions = np.concatenate([unigram_at, bigram_at, np.asarray(word_at, dtype=np.int64)])
    return keys, text_of_char[positions]
