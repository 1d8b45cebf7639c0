"""Text search over item metadata: Okapi BM25 (k1 = 1.5, b = 0.75) over numpy postings.

- :func:`tokenize`: lower-cased words and numbers, stopwords dropped.
- :class:`BM25Index`: the index and its scores for a query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["STOPWORDS", "BM25Index", "tokenize"]

_TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it"}
    | {"its", "of", "on", "or", "that", "the", "this", "to", "with"}
)
"""Words too common to rank by; dropped from documents and queries alike."""


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric runs, without :data:`STOPWORDS`.

    >>> tokenize("A red Mug, with white stripes!")
    ['red', 'mug', 'white', 'stripes']
    """
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class BM25Index:
    """Okapi BM25 over a fixed corpus, with one numpy postings list per term.

    ``score(d, q) = sum over distinct query terms t in d of
    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg_len))`` with
    ``idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))`` (always positive). A query costs one
    vectorised update per query term, whatever the corpus size.

    >>> index = BM25Index(["red mug", "blue mug", "red red lamp"])
    >>> [round(float(s), 3) for s in index.scores("red mug")]
    [1.005, 0.502, 0.615]
    """

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(documents)
        counts: dict[str, dict[int, int]] = {}
        lengths = np.zeros(self.size, dtype=np.float64)
        for doc, text in enumerate(documents):
            tokens = tokenize(text)
            lengths[doc] = len(tokens)
            for token in tokens:
                postings = counts.setdefault(token, {})
                postings[doc] = postings.get(doc, 0) + 1
        self.vocabulary: dict[str, int] = {t: i for i, t in enumerate(sorted(counts))}
        # CSR layout: term i's postings are docs[starts[i]:starts[i + 1]] with their tf.
        self._starts = np.zeros(len(self.vocabulary) + 1, dtype=np.int64)
        docs, tfs = [], []
        for i, term in enumerate(self.vocabulary):
            postings = counts[term]
            docs.extend(postings)
            tfs.extend(postings.values())
            self._starts[i + 1] = self._starts[i] + len(postings)
        self._docs = np.asarray(docs, dtype=np.int64)
        self._tfs = np.asarray(tfs, dtype=np.float64)
        document_frequency = np.diff(self._starts).astype(np.float64)
        self._idf = np.log1p((self.size - document_frequency + 0.5) / (document_frequency + 0.5))
        average = lengths.mean() if self.size else 1.0
        self._norm = k1 * (1 - b + b * lengths / max(average, 1e-9))

    def known_terms(self, query: str) -> list[str]:
        """The distinct query terms that occur in the corpus, in query order."""
        return list(dict.fromkeys(t for t in tokenize(query) if t in self.vocabulary))

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (float64, one per document)."""
        scores = np.zeros(self.size, dtype=np.float64)
        for term in self.known_terms(query):
            i = self.vocabulary[term]
            docs = self._docs[self._starts[i] : self._starts[i + 1]]
            tf = self._tfs[self._starts[i] : self._starts[i + 1]]
            # A term's postings name each document once, so fancy-index += is exact.
            scores[docs] += self._idf[i] * tf * (self.k1 + 1) / (tf + self._norm[docs])
        return scores
