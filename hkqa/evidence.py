"""Evidence for extractive answers: the candidate chunks for a question, scored.

Candidates are the chunks retrieval ranked (near-duplicates kept apart) plus the chunks naming
the firms or people the question is about, and the chunk after each (where "the spokesperson
added" goes on). Each is scored by

    score = dense + COVERAGE_WEIGHT * coverage + FOCUS_WEIGHT * focus + cue bonuses

where `dense` is the cosine similarity of the question and the chunk (stored embeddings),
`coverage` the share of the question's content words, weighted by inverse document frequency,
the chunk contains (firm and name words aside), and `focus` the share of the question's firms
and rare names the chunk names (half credit for the chunk before it; full credit when the chunk
reports the words of the speaker asked about). The cue bonuses reward what the question's kind
asks for (a figure, a date, the speaker, a firm, a name, a reason) and the speaker's own quoted
words; headings lose a little.
"""

from __future__ import annotations

import bisect
import math
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hkqa import cues
from hkqa.bm25 import tokenize
from hkqa.firms import FirmLexicon
from hkqa.question import Question
from hkqa.table import ChunkTable
from hkqa.types import Passage

COVERAGE_WEIGHT = 0.5
"""Weight of the share of the question's content words a chunk contains."""
FOCUS_WEIGHT = 0.5
"""Weight of the share of the question's firms and rare names a chunk names."""
CUE_BONUS = 0.1
"""Added when a sentence carries the cue the question's kind asks for (a figure, a date...)."""
QUOTE_BONUS = 0.3
"""Added when a sentence quotes the question's speaker directly: their own words first."""
PREFIX_MIN = 4
"""Shortest stem that may match a word by prefix ("crim" matches "criminalises")."""
PREFIX_CREDIT = 0.7
"""What a prefix match counts for, against 1.0 for the same stem."""
POOL_SIZE = 40
"""Chunks retrieval ranks for a question, near-duplicates kept apart, before scoring."""
FOCUS_LIMIT = 200
"""Most chunks naming the question's firms or names added to the pool, best BM25 first."""
RARE_IDF = 3.0
"""A name whose terms have at least this IDF (in under about 5% of the chunks) singles
something out: the evidence must name it. "Hong Kong" in a corpus about Hong Kong does not."""


@dataclass
class Candidate:
    """A chunk considered as an answer, with the scores that rank it."""

    row: int
    doc_id: str
    start: int
    end: int
    text: str
    dense: float = 0.0
    coverage: float = 0.0
    focus: float = 0.0
    speaker: bool = False
    score: float = 0.0
    also: list[str] = field(default_factory=list)
    group: str = ""


class CorpusView:
    """Facts about the indexed chunks that answering needs, computed once per chunk table."""

    def __init__(self, table: ChunkTable, lexicon: FirmLexicon) -> None:
        self.table = table
        self.lexicon = lexicon
        self.tokens = [frozenset(tokenize(t)) for t in table.texts]
        self.named = [frozenset(lexicon.firms_in(t, owners=False)) for t in table.texts]
        self.named_firms = frozenset().union(*self.named) if self.named else frozenset()
        firm_rows: dict[str, list[int]] = {}
        for row, firms in enumerate(self.named):
            for firm in firms:
                firm_rows.setdefault(firm, []).append(row)
        self.firm_rows = {f: np.array(r, dtype=np.int64) for f, r in firm_rows.items()}
        self.vectors: dict[str, np.ndarray] = {}
        self._vocabulary: list[str] | None = None
        self._instruction: dict[int, bool] = {}
        self._idf: dict[str, float] = {}

    def instruction(self, row: int) -> bool:
        """True when the chunk gives orders to its reader (`cues.looks_like_instruction`)."""
        known = self._instruction.get(row)
        if known is None:
            known = self._instruction[row] = cues.looks_like_instruction(self.table.texts[row])
        return known

    def prefix_relatives(self, term: str) -> frozenset[str]:
        """Return the corpus's terms, other than `term`, that share a long prefix with it: the
        terms it starts with and the terms starting with it, each at least PREFIX_MIN long."""
        if len(term) < PREFIX_MIN:
            return frozenset()
        if self._vocabulary is None:
            self._vocabulary = sorted(self.table.bm25.postings)
        vocabulary = self._vocabulary
        out = {term[:i] for i in range(PREFIX_MIN, len(term))}
        at = bisect.bisect_left(vocabulary, term)
        while at < len(vocabulary) and vocabulary[at].startswith(term):
            out.add(vocabulary[at])
            at += 1
        out.discard(term)
        return frozenset(out)

    def rows_naming(self, firms: Sequence[str], names: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Return the rows, ascending, that name one of `firms` or contain every term of one of
        `names`: looked up in the firm and BM25 postings, not by visiting every chunk."""
        parts = [self.firm_rows[f] for f in firms if f in self.firm_rows]
        postings = self.table.bm25.postings
        for terms in names:
            if all(t in postings for t in terms):
                rows = postings[terms[0]][0]
                for t in terms[1:]:
                    rows = np.intersect1d(rows, postings[t][0], assume_unique=True)
                parts.append(rows.astype(np.int64))
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(parts))

    def idf(self, term: str) -> float:
        """Inverse document frequency of a BM25 term over the chunks (high when absent)."""
        idf = self._idf.get(term)
        if idf is None:
            bm25 = self.table.bm25
            posting = bm25.postings.get(term)
            df = 0 if posting is None else len(posting[0])
            idf = self._idf[term] = math.log(1 + (bm25.n - df + 0.5) / (df + 0.5))
        return idf

    def known(self, term: str) -> bool:
        """True when some chunk contains the BM25 term."""
        return term in self.table.bm25.postings

    def prev_row(self, row: int) -> int | None:
        """The chunk before `row` in the same document, if any."""
        table = self.table
        if row > 0 and table.doc_ids[row - 1] == table.doc_ids[row]:
            return row - 1
        return None

    def next_row(self, row: int) -> int | None:
        """The chunk after `row` in the same document, if any."""
        table = self.table
        if row + 1 < len(table.ids) and table.doc_ids[row + 1] == table.doc_ids[row]:
            return row + 1
        return None


_VIEWS: weakref.WeakKeyDictionary[ChunkTable, CorpusView] = weakref.WeakKeyDictionary()


def corpus_view(table: ChunkTable, lexicon: FirmLexicon) -> CorpusView:
    """Return the (cached) corpus facts for a chunk table and lexicon."""
    view = _VIEWS.get(table)
    if view is None or view.lexicon is not lexicon:
        view = CorpusView(table, lexicon)
        _VIEWS[table] = view
    return view


# --------------------------------------------------------------------------- candidates


def candidate_rows(
    q: Question, pool: Sequence[Passage], view: CorpusView, allowed: Any = None
) -> list[int]:
    """Return the rows to score: the retrieved pool, then the rows naming the question's firms
    or rare names and the row after each (who "the spokesperson" is), within the filters and
    best BM25 first; chunks that give orders to their reader are never candidates."""
    table = view.table
    rows = [table.row_of[p.chunk.chunk_id] for p in pool if p.chunk.chunk_id in table.row_of]
    firms, names = _entity_terms(q, view)
    firms += [f for f in q.speaker_firms if f not in firms]
    if firms or names:
        hits = view.rows_naming(firms, names)
        if allowed is not None:
            hits = hits[np.asarray(allowed, dtype=bool)[hits]]
        scores = table.bm25.scores(q.text)[hits]
        best = hits[np.lexsort((hits, -scores))[:FOCUS_LIMIT]]  # best BM25 first, then by row
        for row in best.tolist():
            rows.append(row)
            nxt = view.next_row(row)
            if nxt is not None and (allowed is None or allowed[nxt]):
                rows.append(nxt)
    unique = list(dict.fromkeys(rows))
    return [r for r in unique if not view.instruction(r)]


def chunk_vectors(store: Any, view: CorpusView, rows: Sequence[int], dim: int) -> np.ndarray:
    """Return the stored embeddings of the chunks at `rows` (fetched once, then cached); zeros
    for a chunk the store no longer holds."""
    ids = [view.table.ids[r] for r in rows]
    missing = [i for i in ids if i not in view.vectors]
    if missing:
        got = store.chunks.get(ids=missing, include=["embeddings"])
        for cid, vec in zip(got["ids"], got["embeddings"], strict=True):
            view.vectors[cid] = np.asarray(vec, dtype=np.float32)
    empty = np.zeros(dim, dtype=np.float32)
    return np.vstack([view.vectors.get(i, empty) for i in ids]) if ids else np.zeros((0, dim))


def _entity_terms(q: Question, view: CorpusView) -> tuple[list[str], list[tuple[str, ...]]]:
    """The question's focus: its firms, and its names rare enough to single something out."""
    names = []
    for name in q.names:
        terms = tuple(tokenize(name))
        if terms and sum(view.idf(t) for t in terms) / len(terms) >= RARE_IDF:
            names.append(terms)
    return list(q.firms), names


def _matches(term: str, relatives: frozenset[str], tokens: frozenset[str]) -> float:
    """1.0 when the chunk has the term, 0.7 when it has a word sharing a long prefix with it
    ("crimes" and "criminalises": `relatives`, from `CorpusView.prefix_relatives`), else 0."""
    if term in tokens:
        return 1.0
    return PREFIX_CREDIT if not relatives.isdisjoint(tokens) else 0.0


def score_candidates(
    q: Question,
    rows: Sequence[int],
    view: CorpusView,
    question_vector: np.ndarray,
    vectors: np.ndarray,
) -> list[Candidate]:
    """Return a scored candidate per row, best first (ties by row)."""
    table = view.table
    firms, names = _entity_terms(q, view)
    entity_terms = {t for f in firms for t in tokenize(f)} | {t for n in names for t in n}
    topic = [t for t in q.terms if t not in entity_terms] or list(q.terms)
    weights = {t: view.idf(t) for t in topic}
    relatives = {t: view.prefix_relatives(t) for t in topic}
    total = sum(weights.values()) or 1.0
    dense = vectors @ question_vector if len(rows) else np.zeros(0)
    out = []
    for i, row in enumerate(rows):
        meta = table.metas[row]
        cand = Candidate(
            row=row,
            doc_id=table.doc_ids[row],
            start=int(meta["start"]),
            end=int(meta["end"]),
            text=table.texts[row],
            dense=float(dense[i]),
            group=str(meta.get("dup_group") or table.ids[row]),
            also=[d for d in (meta.get("dup_docs") or "").split("|") if d],
        )
        toks = view.tokens[row]
        cand.coverage = sum(w * _matches(t, relatives[t], toks) for t, w in weights.items()) / total
        cand.speaker = is_speaker(q, row, view)
        cand.focus = 1.0 if cand.speaker else focus_share(firms, names, row, view)
        cand.score = cand.dense + COVERAGE_WEIGHT * cand.coverage + FOCUS_WEIGHT * cand.focus
        cand.score += CUE_BONUS * cue_fit(q, cand, view)
        if cand.speaker and cues.quoted_spans(cand.text):
            cand.score += QUOTE_BONUS  # the speaker's own words, quoted
        if table.heading[row]:
            cand.score -= CUE_BONUS
        out.append(cand)
    out.sort(key=lambda c: (-c.score, c.row))
    return out


def focus_share(
    firms: Sequence[str], names: Sequence[tuple[str, ...]], row: int, view: CorpusView
) -> float:
    """Share of the question's firms and rare names the chunk names (half credit for the chunk
    before it), weighted by how rare each is; 0 when the question has none."""
    entities: list[tuple[float, bool, bool]] = []
    prev = view.prev_row(row)
    for firm in firms:
        weight = max((view.idf(t) for t in tokenize(firm)), default=1.0)
        entities.append(
            (weight, firm in view.named[row], prev is not None and firm in view.named[prev])
        )
    for terms in names:
        weight = sum(view.idf(t) for t in terms) / len(terms)
        here = all(t in view.tokens[row] for t in terms)
        before = prev is not None and all(t in view.tokens[prev] for t in terms)
        entities.append((weight, here, before))
    total = sum(w for w, _, _ in entities)
    if not total:
        return 0.0
    return (
        sum(w * (1.0 if here else 0.5 if before else 0.0) for w, here, before in entities) / total
    )


# Nouns for firms in general: a question's "companies" speak through a text's "firms".
_FIRM_NOUN_TERMS = frozenset(
    tokenize("company companies firm firms giant giants corporation corporations business")
)


def _speaker_mentions(q: Question, view: CorpusView) -> Any:
    """Return a function giving the spans of a text that name the question's speaker: the firm,
    the name (or its last word), or a word of the noun heading the role."""
    firms = set(q.speaker_firms)
    names = [
        n for n in q.names if q.named_speaker and q.speaker and n in q.speaker and not n.isupper()
    ]
    head = q.speaker_head
    heads = _FIRM_NOUN_TERMS if head in _FIRM_NOUN_TERMS else frozenset([head] if head else [])

    def mentions(text: str) -> list[tuple[int, int]]:
        spans = [(m.start, m.end) for m in view.lexicon.find(text) if m.firm in firms]
        for name in names:
            for word in [*name.split()[-1:], name]:
                spans += [
                    (m.start(), m.end()) for m in re.finditer(rf"\b{re.escape(word)}\b", text)
                ]
        if heads and not firms and not names:
            spans += [
                (m.start(), m.end())
                for m in re.finditer(r"[^\W_]+", text)
                if tokenize(m.group())[:1] and tokenize(m.group())[0] in heads
            ]
        return spans

    return mentions


def is_speaker(q: Question, row: int, view: CorpusView) -> bool:
    """True when the chunk reports words of the question's speaker: named as speaking in it, or
    speaking in the chunk before while this one goes on ("The spokesperson added: ...")."""
    if q.speaker is None:
        return False
    mentions = _speaker_mentions(q, view)
    text = view.table.texts[row]
    if cues.speaker_spans(text, mentions):
        return True
    if not q.named_speaker and cues.reports_speech(text):
        # Someone named by role ("officials", "US firms") speaks wherever the sentence
        # mentions them outside a quotation and reports speech.
        quotes = cues.quoted_spans(text)
        if any(not any(qs <= s < qe for qs, qe in quotes) for s, _ in mentions(text)):
            return True
    prev = view.prev_row(row)
    if prev is None or not cues.continues_speech(text) or view.named[row]:
        return False
    prev_text = view.table.texts[prev]
    return bool(cues.speaker_spans(prev_text, mentions))


def cue_fit(q: Question, cand: Candidate, view: CorpusView) -> float:
    """Between 0 and 1: how far the chunk has what the question's kind asks for (a figure, a
    date, the speaker's words, a firm, a name) and, when a reason is asked, a reason cue."""
    text = cand.text
    fit = 0.0
    if q.kind == "number":
        fit = 1.0 if has_figure(q, text) else 0.0
    elif q.kind == "date":
        fit = 1.0 if cues.dates(text) else 0.0
    elif q.speaker is not None:
        fit = 1.0 if cand.speaker else 0.0
    elif q.kind == "firms":
        fit = 1.0 if view.named[cand.row] else 0.0
    elif q.kind == "who":
        fit = 1.0 if cues.new_names(text, q.text) else 0.0
    if q.asks_reason:
        fit = 0.5 * fit + 0.5 * cues.gives_reason(text)
    return fit


def collapse_groups(cands: Sequence[Candidate], view: CorpusView) -> list[Candidate]:
    """Return one candidate per near-duplicate group, best first: the original statement (the
    earliest dated, else the one quoting most directly) stands for the group, with the group's
    best score and the other documents as `also`."""
    groups: dict[str, list[Candidate]] = {}
    for cand in cands:
        groups.setdefault(cand.group, []).append(cand)
    out = []
    for members in groups.values():
        best = max(c.score for c in members)
        near = [c for c in members if c.score >= best - 0.15]
        rep = min(near, key=lambda c: _original_key(c, view))
        docs = {c.doc_id for c in members} | set(rep.also)
        rep.also = sorted(docs - {rep.doc_id})
        rep.score = best
        out.append(rep)
    out.sort(key=lambda c: (-c.score, c.row))
    return out


def _original_key(cand: Candidate, view: CorpusView) -> tuple[float, int, int]:
    meta = view.table.metas[cand.row]
    day = meta.get("date_day")
    quoted = sum(e - s for s, e in cues.quoted_spans(cand.text))
    return (float(day) if day is not None else math.inf, -quoted, cand.row)


def has_figure(q: Question, text: str) -> bool:
    """True when `text` gives the kind of figure `q` asks for: a share for "what percentage", a
    count of the right thing for "how many X" (a number followed shortly by X), else a number
    in digits."""
    if q.percent:
        return bool(cues.quantities(text, percent=True))
    if q.count_noun is not None:
        return cues.counts(text, q.count_noun)
    return any(any(ch.isdigit() for ch in f) for f in cues.quantities(text))
