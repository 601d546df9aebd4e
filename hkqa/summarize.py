"""Summaries of one document, one firm or the whole corpus, every sentence traceable to a source.

The default is extractive: sentences ranked by centrality (TextRank over sentence embeddings),
picked without redundancy (MMR), re-reported statements collapsed into one that lists the other
documents, and shown in reading order. With an LLM, passages are summarised map-reduce style and
each sentence it writes is tied to a passage; a sentence quoting words that are not in its source
is dropped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from hkqa.dedup import near_duplicate_groups
from hkqa.errors import ConfigError
from hkqa.firms import FirmLexicon
from hkqa.normalize import normalize
from hkqa.positions import attribute_sentences, sentence_cues
from hkqa.table import is_heading
from hkqa.types import Citation, Document, Summary, SummarySentence
from hkqa.verify import find_quote, verify_span

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from hkqa.api import Hkqa
    from hkqa.embed import Embedder

EXTRACTIVE = "extractive"
MIN_WORDS = 5
DAMPING = 0.85
MMR_LAMBDA = 0.7
REDUNDANT = 0.9
"""Cosine similarity above which a sentence repeats one already picked."""
LEAD_BONUS = 0.1
CUE_BONUS = 0.2
PASSAGE_CHARS = 700
CHARS_PER_TOKEN = 3
PROMPT_MARGIN_TOKENS = 64
MAX_LLM_SENTENCE_CHARS = 300
_PLACEHOLDER = re.compile(r"<[^<>]*>|\.\.\.|…")
_QUOTED = re.compile(r"[“\"]([^”\"]{3,})[”\"]")


@dataclass
class Candidate:
    """A sentence that may go into a summary, by offsets into its document."""

    doc: Document
    start: int
    end: int
    position: int
    cued: bool = False
    also: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.doc.text[self.start : self.end]


def candidate_sentences(
    docs: Sequence[Document], lexicon: FirmLexicon, *, firm: str | None = None
) -> list[Candidate]:
    """Return the summarisable sentences of `docs` in reading order: headlines, credits and
    navigation left out, and with `firm` only those about it (or a firm it owns)."""
    family = {firm, *lexicon.subsidiaries(firm)} if firm else set()
    out = []
    for doc in docs:
        for position, a in enumerate(attribute_sentences(doc, lexicon)):
            if a.boilerplate or is_heading(a.text) or len(a.text.split()) < MIN_WORDS:
                continue
            if family and not family & set(a.actors):
                continue
            cued = bool(family) and bool(sentence_cues(a.text))
            out.append(Candidate(doc, a.start, a.end, position, cued))
    return out


def collapse_duplicates(candidates: list[Candidate]) -> list[Candidate]:
    """Return one candidate per near-duplicate group (the earliest source), listing the other
    documents that carry it in `also`."""
    groups = near_duplicate_groups(
        (f"{i:06d}", c.doc.doc_id, c.text) for i, c in enumerate(candidates)
    )
    members: dict[str, list[int]] = defaultdict(list)
    for i in range(len(candidates)):
        members[groups[f"{i:06d}"]].append(i)
    keep = []
    for idxs in members.values():
        best = min(idxs, key=lambda i: _reading_key(candidates[i]))
        others = {candidates[i].doc.doc_id for i in idxs} - {candidates[best].doc.doc_id}
        candidates[best].also = sorted(others)
        keep.append(candidates[best])
    return sorted(keep, key=_reading_key)


def _reading_key(c: Candidate) -> tuple[str, str, int]:
    return (c.doc.date or "9999-99-99", c.doc.doc_id, c.start)


def textrank(vectors: np.ndarray, *, iterations: int = 60) -> np.ndarray:
    """Return each sentence's centrality (PageRank over cosine similarities), summing to 1."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0)
    sim = np.clip(vectors @ vectors.T, 0.0, None)
    np.fill_diagonal(sim, 0.0)
    rows = sim.sum(axis=1, keepdims=True)
    transition = np.where(rows > 0, sim / np.where(rows == 0, 1.0, rows), 1.0 / n)
    score = np.full(n, 1.0 / n)
    for _ in range(iterations):
        score = (1 - DAMPING) / n + DAMPING * transition.T @ score
    return np.asarray(score / score.sum())


def select(
    candidates: list[Candidate],
    vectors: np.ndarray,
    *,
    max_sentences: int,
    max_words: int | None,
) -> list[int]:
    """Return the indices of the sentences to show: central first, each new one unlike those
    picked (MMR), within `max_sentences` and `max_words`."""
    if not candidates:
        return []
    rank = textrank(vectors)
    rank = rank / rank.max()
    bonus = np.array(
        [
            (LEAD_BONUS if c.position < 3 else 0.0) + (CUE_BONUS if c.cued else 0.0)
            for c in candidates
        ]
    )
    score = rank + bonus
    chosen: list[int] = []
    words = 0
    left = set(range(len(candidates)))
    while left and len(chosen) < max_sentences:
        best, best_value = -1, -np.inf
        for i in left:
            overlap = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            value = MMR_LAMBDA * score[i] - (1 - MMR_LAMBDA) * overlap
            if value > best_value:
                best, best_value = i, value
        left.discard(best)
        overlap = max((float(vectors[best] @ vectors[j]) for j in chosen), default=0.0)
        n_words = len(candidates[best].text.split())
        if overlap > REDUNDANT or (max_words is not None and words + n_words > max_words):
            continue
        chosen.append(best)
        words += n_words
    return chosen


def summarize(
    hkqa: Hkqa,
    *,
    doc_id: str | None = None,
    firm: str | None = None,
    max_sentences: int = 5,
    max_words: int | None = None,
    use_llm: bool | None = None,
) -> Summary:
    """Return a summary of one document (`doc_id`), one firm (`firm`) or the whole corpus,
    each sentence cited; `use_llm` None means: use the LLM if one is configured."""
    if doc_id is not None and firm is not None:
        raise ConfigError(
            "give a document or a firm to summarise, not both",
            hint="drop --doc to summarise what every document says about the firm",
        )
    if max_sentences < 1:
        raise ConfigError(f"max_sentences must be at least 1, not {max_sentences}")
    if max_words is not None and max_words < 1:
        raise ConfigError(f"max_words must be at least 1, not {max_words}")
    lexicon = hkqa.lexicon
    canonical = None
    if firm is not None:
        resolved = lexicon.resolve(firm)
        if resolved is None:
            raise ConfigError(
                f"unknown firm {firm!r}",
                hint="list the known firms with `hkqa firms`, or add it with a firms file "
                "(HKQA_FIRMS_FILE)",
            )
        canonical = resolved.name
    docs = [hkqa.document(doc_id)] if doc_id is not None else hkqa.documents()
    if use_llm is None:
        use_llm = hkqa.settings.llm_configured
    return summarize_documents(
        docs,
        lexicon,
        hkqa.embedder,
        firm=canonical,
        scope_doc=doc_id,
        max_sentences=max_sentences,
        max_words=max_words,
        llm=hkqa.llm if use_llm else None,
    )


def summarize_documents(
    docs: Sequence[Document],
    lexicon: FirmLexicon,
    embedder: Embedder,
    *,
    firm: str | None = None,
    scope_doc: str | None = None,
    max_sentences: int = 5,
    max_words: int | None = None,
    llm: LLM | None = None,
) -> Summary:
    """Return the summary of `docs` (about `firm` if given), extractive or, with `llm`,
    map-reduced by it; the plain function behind `summarize`."""
    scope: Any = "firm" if firm else ("document" if scope_doc else "corpus")
    target = firm or scope_doc
    candidates = collapse_duplicates(candidate_sentences(docs, lexicon, firm=firm))
    if not candidates:
        what = f"about {firm}" if firm else "to summarise"
        where = f"in {scope_doc}" if scope_doc else "in the indexed documents"
        return Summary(
            scope=scope,
            target=target,
            text=f"No statement {what} was found {where}.",
            sentences=[],
            backend=EXTRACTIVE,
        )
    vectors = _embed(embedder, tuple(" ".join(c.text.split()) for c in candidates))
    fallback = None
    if llm is not None:
        from hkqa.llm import llm_name

        written, dropped = _llm_sentences(llm, candidates, vectors, embedder, max_sentences)
        written = _within_words(written, max_words)
        if written:
            return _summary(scope, target, written, llm_name(llm), dropped=dropped)
        fallback = "the LLM gave no sentence that could be traced to a source"
    chosen = select(candidates, vectors, max_sentences=max_sentences, max_words=max_words)
    picked = [candidates[i] for i in chosen]
    clipped = not picked and max_words is not None
    if clipped and max_words is not None:
        # Not one whole sentence fits: the most central one, cut after `max_words` words.
        picked = [_clipped(candidates[int(np.argmax(textrank(vectors)))], max_words)]
    picked.sort(key=lambda c: (c.start,) if scope_doc else _reading_key(c))
    sentences = [
        SummarySentence(
            text=c.text + ("…" if clipped else ""),
            citation=_citation(c, c.start, c.end),
            verbatim=not clipped,
        )
        for c in picked
    ]
    return _summary(scope, target, sentences, EXTRACTIVE, fallback=fallback)


@lru_cache(maxsize=16)
def _embed(embedder: Embedder, texts: tuple[str, ...]) -> np.ndarray:
    # Summaries of the same scope with other limits embed the same sentences: do it once.
    return embedder.embed(list(texts))


def _clipped(c: Candidate, max_words: int) -> Candidate:
    """The candidate cut after its first `max_words` words: still a verbatim span."""
    spans = [m.end() for m in re.finditer(r"\S+", c.text)]
    end = c.start + spans[min(max_words, len(spans)) - 1]
    return Candidate(c.doc, c.start, end, c.position, c.cued, c.also)


def _citation(c: Candidate, start: int, end: int) -> Citation:
    quote = c.doc.text[start:end]
    return Citation(
        n=1,
        doc_id=c.doc.doc_id,
        title=c.doc.title,
        outlet=c.doc.outlet,
        date=c.doc.date,
        quote=quote,
        start=start,
        end=end,
        verified=verify_span(c.doc.text, start, end, quote),
        also_reported_by=c.also,
    )


def _summary(
    scope: Any,
    target: str | None,
    sentences: list[SummarySentence],
    backend: str,
    *,
    fallback: str | None = None,
    dropped: int = 0,
) -> Summary:
    numbered = [
        s.model_copy(update={"citation": s.citation.model_copy(update={"n": n})})
        for n, s in enumerate(sentences, start=1)
    ]
    text = " ".join(f"{' '.join(s.text.split())} [{s.citation.n}]" for s in numbered)
    return Summary(
        scope=scope,
        target=target,
        text=text,
        sentences=numbered,
        backend=backend,
        fallback=fallback,
        dropped=dropped,
    )


def _within_words(sentences: list[SummarySentence], max_words: int | None) -> list[SummarySentence]:
    if max_words is None:
        return sentences
    kept, words = [], 0
    for s in sentences:
        n = len(s.text.split())
        if words + n <= max_words:
            kept.append(s)
            words += n
    return kept


# -- LLM map-reduce ----------------------------------------------------------------------------


@dataclass
class _Passage:
    number: int
    members: list[int]
    doc: Document
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.doc.text[self.start : self.end]


def passages(candidates: list[Candidate]) -> list[_Passage]:
    """Group consecutive sentences of one document into numbered passages of a few hundred
    characters, each a verbatim span of its document."""
    out: list[_Passage] = []
    for i, c in enumerate(candidates):
        last = out[-1] if out else None
        if (
            last is not None
            and last.doc.doc_id == c.doc.doc_id
            and c.start >= last.end
            and c.end - last.start <= PASSAGE_CHARS
        ):
            last.members.append(i)
            last.end = c.end
        else:
            out.append(_Passage(len(out) + 1, [i], c.doc, c.start, c.end))
    return out


def _reply_schema(max_sentences: int, sources: list[int]) -> dict[str, Any]:
    """The JSON schema of a map or reduce reply; `source` can only name a passage shown."""
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "maxItems": max_sentences,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "maxLength": MAX_LLM_SENTENCE_CHARS},
                        "source": {"enum": sources},
                    },
                    "required": ["text", "source"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


def _ask(llm: LLM, prompt: str, max_sentences: int, sources: list[int]) -> list[tuple[str, int]]:
    """The (text, source) items of the LLM's reply whose source is one of `sources`; an
    unusable reply, or the prompt's placeholder copied back, gives none."""
    from hkqa.llm import structured_output_kwargs

    kwargs = structured_output_kwargs(llm, _reply_schema(max_sentences, sources))
    from hkqa.drafting import parse_json_object

    reply = parse_json_object(llm.complete(prompt, **kwargs).text) or {}
    items = reply.get("sentences")
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text, source = item.get("text"), item.get("source")
        if not (isinstance(text, str) and isinstance(source, int) and source in sources):
            continue
        text = " ".join(text.split())[:MAX_LLM_SENTENCE_CHARS]
        if text and not _PLACEHOLDER.fullmatch(text):
            out.append((text, source))
    return out


def _batches(llm: LLM, shown: list[_Passage], max_sentences: int) -> list[list[_Passage]]:
    """Pack passages, in order, into prompts that fit the LLM's context window."""
    from hkqa.templates import render

    count = getattr(llm, "count_tokens", None) or (lambda t: len(t) // CHARS_PER_TOKEN + 1)
    meta = llm.metadata
    budget = meta.context_window - meta.num_output - PROMPT_MARGIN_TOKENS
    batches: list[list[_Passage]] = [[]]
    for p in shown:
        trial = [*batches[-1], p]
        prompt = render("summarize_map.j2", passages=_shown(trial), max_sentences=max_sentences)
        if count(prompt) <= budget or not batches[-1]:
            batches[-1] = trial
        else:
            batches.append([p])
    return batches


def _shown(batch: list[_Passage]) -> list[dict[str, Any]]:
    return [
        {
            "number": p.number,
            "doc_id": p.doc.doc_id,
            "title": p.doc.title,
            "date": p.doc.date,
            # A passage must not be able to close its own tag and speak outside it.
            "text": p.text.replace("</passage", "<\\/passage"),
        }
        for p in batch
    ]


def _llm_sentences(
    llm: LLM,
    candidates: list[Candidate],
    vectors: np.ndarray,
    embedder: Embedder,
    max_sentences: int,
) -> tuple[list[SummarySentence], int]:
    """Map each batch of passages to cited sentences, reduce them to `max_sentences`, and keep
    those whose source exists and whose quoted words stand in it; also return how many were
    dropped."""
    from hkqa.templates import render

    shown = passages(candidates)
    by_number = {p.number: p for p in shown}
    batches = _batches(llm, shown, max_sentences)
    points: list[tuple[str, int]] = []
    for batch in batches:
        numbers = {p.number for p in batch}
        prompt = render("summarize_map.j2", passages=_shown(batch), max_sentences=max_sentences)
        points += _ask(llm, prompt, max_sentences, sorted(numbers))
    if len(batches) > 1 and points:
        listed = [{"number": i, "text": t, "source": s} for i, (t, s) in enumerate(points, 1)]
        prompt = render("summarize_reduce.j2", points=listed, max_sentences=max_sentences)
        points = _ask(llm, prompt, max_sentences, sorted({s for _, s in points}))
    out: list[SummarySentence] = []
    dropped = 0
    for text, source in points[:max_sentences]:
        sentence = _traced(text, by_number[source], candidates, vectors, embedder)
        if sentence is None:
            dropped += 1
        else:
            out.append(sentence)
    return out, dropped


def _has_word(source: str, word: str) -> bool:
    """True when the single quoted `word` stands in `source` as a whole word (a scare quote)."""
    needle = normalize(word).text.strip(" .,;:'\"")
    if not needle:
        return False
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", normalize(source).text) is not None


def _traced(
    text: str,
    passage: _Passage,
    candidates: list[Candidate],
    vectors: np.ndarray,
    embedder: Embedder,
) -> SummarySentence | None:
    """The LLM sentence cited to the passage sentence it comes from, or None when it quotes
    words its source does not hold."""
    doc = passage.doc
    quoted_spans = []
    for quoted in _QUOTED.findall(text):
        match = find_quote(quoted, doc.text, near=passage.start, min_chars=3)
        if match is not None:
            quoted_spans.append(match)
        elif len(quoted.split()) > 1 or not _has_word(doc.text, quoted):
            return None
    members = [candidates[i] for i in passage.members]
    best = None
    for span in quoted_spans:
        best = next((c for c in members if c.start <= span.start and span.end <= c.end), None)
        if best is not None:
            break
    if best is None:
        query = embedder.embed([text])[0]
        scores = [float(vectors[i] @ query) for i in passage.members]
        best = members[int(np.argmax(scores))]
    citation = _citation(best, best.start, best.end)
    if not citation.verified:
        return None
    return SummarySentence(text=text, citation=citation, verbatim=text == citation.quote)
