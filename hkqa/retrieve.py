"""Hybrid retrieval: BM25 and dense neighbours fused by reciprocal rank, filtered by firm,
outlet and date, with near-duplicate passages collapsed into one hit."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from hkqa.embed import Embedder
from hkqa.errors import ConfigError
from hkqa.firms import FirmLexicon
from hkqa.store import Store, chunk_from_record
from hkqa.table import ChunkTable
from hkqa.types import Passage

RetrieverName = Literal["hybrid", "dense", "bm25"]
RETRIEVERS: tuple[str, ...] = ("hybrid", "dense", "bm25")
RRF_K = 60
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Fusion:
    """How ranked lists become one ranking."""

    method: Literal["rrf", "convex"] = "convex"
    rrf_k: int = RRF_K
    alpha: float = 0.5
    firm_boost: float = 0.5
    heading_penalty: float = 0.5


DEFAULT_FUSION = Fusion()


def epoch_day(value: str | dt.date | None, *, option: str = "date") -> int | None:
    """Return days since 1970-01-01 for an ISO date (yyyy, yyyy-mm or yyyy-mm-dd)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return (value - _EPOCH).days
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return (day - _EPOCH).days
    raise ConfigError(f"{option} {value!r} is not a date", hint="write it as YYYY-MM-DD")


@dataclass
class Filters:
    """Which chunks a search may return."""

    firm: str | None = None
    since: str | dt.date | None = None
    until: str | dt.date | None = None
    outlet: str | None = None
    doc_ids: set[str] = field(default_factory=set)

    def resolved(self, lexicon: FirmLexicon) -> Filters:
        """Return the filters with the firm resolved to its canonical name."""
        if self.firm is None:
            return self
        firm = lexicon.resolve(self.firm)
        if firm is None:
            raise ConfigError(
                f"unknown firm {self.firm!r}",
                hint="use a firm name hkqa knows (see `hkqa firms`) or add it with HKQA_FIRMS_FILE",
            )
        return Filters(firm.name, self.since, self.until, self.outlet, self.doc_ids)

    def where(self) -> dict[str, Any] | None:
        """Return the Chroma `where` clause for these filters."""
        conds: list[dict[str, Any]] = []
        if self.firm:
            conds.append({"firms": {"$contains": self.firm}})
        since, until = (
            epoch_day(self.since, option="--since"),
            epoch_day(self.until, option="--until"),
        )
        if since is not None:
            conds.append({"date_day": {"$gte": since}})
        if until is not None:
            conds.append({"date_day": {"$lte": until}})
        if self.outlet:
            conds.append({"outlet": self.outlet})
        if self.doc_ids:
            conds.append({"doc_id": {"$in": sorted(self.doc_ids)}})
        if not conds:
            return None
        return conds[0] if len(conds) == 1 else {"$and": conds}

    def mask(self, table: ChunkTable) -> Any:
        """Return the table rows these filters keep (None: all)."""
        return table.mask(
            firm=self.firm,
            since_day=epoch_day(self.since, option="--since"),
            until_day=epoch_day(self.until, option="--until"),
            outlet=self.outlet,
            doc_ids=self.doc_ids or None,
        )


def expand_query(question: str, lexicon: FirmLexicon) -> str:
    """Return the question with the canonical name of every firm it names by an alias, so
    "Meta" also finds "Facebook"."""
    extra = [m.firm for m in lexicon.find(question) if m.surface.casefold() != m.firm.casefold()]
    return " ".join([question, *dict.fromkeys(extra)])


def rank_rows(
    question: str,
    *,
    store: Store,
    table: ChunkTable,
    embedder: Embedder,
    lexicon: FirmLexicon,
    filters: Filters,
    candidates: int,
    retriever: RetrieverName,
    timings: dict[str, float],
    fusion: Fusion = DEFAULT_FUSION,
) -> list[tuple[int, float, float | None, float | None]]:
    """Return (row, fused score, dense score, bm25 score) for the candidates, best first."""
    if retriever not in RETRIEVERS:
        raise ConfigError(
            f"unknown retriever {retriever!r}", hint=f"one of {', '.join(RETRIEVERS)}"
        )
    query = expand_query(question, lexicon)
    dense: list[tuple[int, float]] = []
    sparse: list[tuple[int, float]] = []
    if retriever in ("hybrid", "dense"):
        t = time.perf_counter()
        vector = embedder.embed_query(query)
        timings["embed_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        for cid, sim in store.query(vector, candidates, filters.where()):
            row = table.row_of.get(cid)
            if row is not None:  # written after this reader's table was built
                dense.append((row, sim))
        timings["dense_ms"] = (time.perf_counter() - t) * 1000
    if retriever in ("hybrid", "bm25"):
        t = time.perf_counter()
        sparse = table.bm25.top(query, candidates, filters.mask(table))
        timings["bm25_ms"] = (time.perf_counter() - t) * 1000
    candidates_rows = {row for row, _ in dense} | {row for row, _ in sparse}
    boosts = _boosts(question, table, lexicon, fusion, candidates_rows)
    return fuse(dense, sparse, boosts, fusion, table.ids)


def fuse(
    dense: list[tuple[int, float]],
    sparse: list[tuple[int, float]],
    boosts: dict[int, float],
    fusion: Fusion,
    ids: list[str],
) -> list[tuple[int, float, float | None, float | None]]:
    """Combine dense and BM25 candidates into one ranking, best first, ties by chunk id."""
    fused: dict[int, list[Any]] = {}
    if fusion.method == "rrf":
        for ranked, slot in ((dense, 1), (sparse, 2)):
            for rank, (row, score) in enumerate(ranked):
                entry = fused.setdefault(row, [0.0, None, None])
                entry[0] += 1.0 / (fusion.rrf_k + rank + 1)
                entry[slot] = score
    else:
        lo = min((s for _, s in dense), default=0.0)
        hi = max((s for _, s in dense), default=1.0)
        top = max((s for _, s in sparse), default=1.0) or 1.0
        for row, score in dense:
            entry = fused.setdefault(row, [0.0, None, None])
            entry[0] += fusion.alpha * (score - lo) / ((hi - lo) or 1.0)
            entry[1] = score
        for row, score in sparse:
            entry = fused.setdefault(row, [0.0, None, None])
            entry[0] += (1 - fusion.alpha) * score / top
            entry[2] = score
    for row, entry in fused.items():
        entry[0] *= boosts.get(row, 1.0)
    order = sorted(fused.items(), key=lambda item: (-item[1][0], ids[item[0]]))
    return [(row, s, d, b) for row, (s, d, b) in order]


def _boosts(
    question: str,
    table: ChunkTable,
    lexicon: FirmLexicon,
    fusion: Fusion,
    rows: set[int],
) -> dict[int, float]:
    """Return score multipliers: up for chunks naming (or next to) the firms the question
    names, down for headings, which match everything and state little."""
    wanted = {m.firm for m in lexicon.find(question)}
    out: dict[int, float] = {}
    for row in rows:  # only candidates: the cost must not grow with the corpus
        factor = fusion.heading_penalty if table.heading[row] else 1.0
        if wanted:
            own = wanted & table.firm_sets[row]
            near = wanted & table.near_firms[row]
            share = (len(own) + 0.5 * len(near - own)) / len(wanted)
            factor *= 1.0 + fusion.firm_boost * share
        if factor != 1.0:
            out[row] = factor
    return out


def retrieve(
    question: str,
    *,
    store: Store,
    table: ChunkTable,
    embedder: Embedder,
    lexicon: FirmLexicon,
    k: int = 5,
    candidates: int = 50,
    filters: Filters | None = None,
    retriever: RetrieverName = "hybrid",
    collapse: bool = True,
    timings: dict[str, float] | None = None,
    fusion: Fusion = DEFAULT_FUSION,
) -> list[Passage]:
    """Return the `k` best passages for `question`, at most one per near-duplicate group
    unless `collapse` is False; each says which other documents carry the same passage."""
    timings = {} if timings is None else timings
    filters = (filters or Filters()).resolved(lexicon)
    ranked = rank_rows(
        question,
        store=store,
        table=table,
        embedder=embedder,
        lexicon=lexicon,
        filters=filters,
        candidates=max(candidates, k),
        retriever=retriever,
        timings=timings,
        fusion=fusion,
    )
    chosen = []
    seen_groups: set[str] = set()
    for row, score, dense, bm25 in ranked:
        group = table.metas[row].get("dup_group") or table.ids[row]
        if collapse and group in seen_groups:
            continue
        seen_groups.add(group)
        chosen.append((row, score, dense, bm25))
        if len(chosen) == k:
            break
    docs = store.documents({table.doc_ids[row] for row, *_ in chosen})
    passages = []
    for rank, (row, score, dense, bm25) in enumerate(chosen, start=1):
        meta = table.metas[row]
        chunk = chunk_from_record(table.ids[row], table.texts[row], meta)
        doc = docs.get(chunk.doc_id)
        others = [d for d in (meta.get("dup_docs") or "").split("|") if d and d != chunk.doc_id]
        passages.append(
            Passage(
                rank=rank,
                score=score,
                dense_score=dense,
                bm25_score=bm25,
                chunk=chunk,
                title=doc.title if doc else None,
                outlet=doc.outlet if doc else None,
                date=doc.date if doc else None,
                context=doc.text[chunk.context_start : chunk.context_end] if doc else None,
                also_reported_by=others,
            )
        )
    return passages
