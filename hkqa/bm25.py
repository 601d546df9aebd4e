"""BM25 over chunk texts, built from what the Chroma collection holds.

Kept in memory as a sparse term -> (rows, weights) map, so a query costs only the postings
of its own terms; the whole index pickles into the index directory's cache.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

_DOUBLED = re.compile(r"([b-df-hj-km-np-rtv-y])\1$")  # a doubled consonant, not ll/ss/zz
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "it's",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "do",
        "does",
        "did",
        "done",
        "has",
        "have",
        "had",
        "having",
        "not",
        "no",
        "nor",
        "so",
        "than",
        "too",
        "very",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "about",
        "into",
        "over",
        "also",
        "just",
        "only",
        "any",
        "all",
        "some",
        "such",
        "other",
        "more",
        "most",
        "own",
        "same",
        "s",
        "t",
        "said",
        "say",
        "says",
    ]
)


def stem(word: str) -> str:
    """Return a light stem: enough that pause/paused/pausing and request/requests meet."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + keep
            if suffix in ("ing", "ed") and _DOUBLED.search(word):
                word = word[:-1]  # stopped -> stopp -> stop
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Return the BM25 terms of a text: casefolded, stopwords dropped, lightly stemmed."""
    out = []
    for raw in _TOKEN.findall(text.casefold()):
        word = raw.replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        if word in STOPWORDS:
            continue
        out.append(stem(word))
    return out


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75) over a fixed list of texts."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.n = len(texts)
        docs = [tokenize(t) for t in texts]
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if self.n else 0.0
        norm = k1 * (1 - b + b * lengths / (avg or 1.0))
        rows: dict[str, list[int]] = defaultdict(list)
        tfs: dict[str, list[int]] = defaultdict(list)
        for row, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                rows[term].append(row)
                tfs[term].append(tf)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, term_rows in rows.items():
            r = np.array(term_rows, dtype=np.int32)
            freq = np.array(tfs[term], dtype=np.float32)
            df = len(term_rows)
            idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
            weight = idf * freq * (k1 + 1) / (freq + norm[r])
            self.postings[term] = (r, weight.astype(np.float32))

    def scores(self, query: str) -> np.ndarray:
        """Return the BM25 score of every text for `query` (zeros where no term matches)."""
        out = np.zeros(self.n, dtype=np.float32)
        for term in set(tokenize(query)):
            posting = self.postings.get(term)
            if posting is not None:
                out[posting[0]] += posting[1]
        return out

    def top(self, query: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Return up to `n` (row, score) pairs with a positive score, best first; `allowed` is a
        boolean mask of rows that pass the filters."""
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return []
        best = positive[np.argsort(-scores[positive], kind="stable")[:n]]
        return [(int(i), float(scores[i])) for i in best]
