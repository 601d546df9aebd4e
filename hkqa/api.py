"""`Hkqa`: the thin facade that wires settings, store, embedder and lexicon to the pipeline.

It owns nothing the pipeline functions need beyond loading each part once: the REPL, the
evaluation runner and library users keep one `Hkqa` and ask it many questions.
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hkqa.config import Mode, Settings
from hkqa.errors import ConfigError, NothingToIndexError, QuestionError

if TYPE_CHECKING:
    from hkqa.embed import Embedder
    from hkqa.firms import FirmLexicon
    from hkqa.indexing import IndexReport
    from hkqa.retrieve import RetrieverName
    from hkqa.store import Store
    from hkqa.table import ChunkTable
    from hkqa.types import Answer, Document, FirmPosition, SearchResult, Summary

MAX_QUESTION_CHARS = 2000


def clean_question(question: str) -> str:
    """Return the question with control characters and runs of whitespace turned into single
    spaces; raise QuestionError when nothing is left or it is too long to be a question."""
    if not isinstance(question, str):
        raise QuestionError(f"a question must be text, not {type(question).__name__}")
    chars = (" " if unicodedata.category(c).startswith("C") else c for c in question)
    cleaned = " ".join("".join(chars).split())
    if not cleaned:
        raise QuestionError(
            "the question is empty", hint='ask something, e.g. "Which firms paused data requests?"'
        )
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(cleaned):,} characters long; "
            f"the limit is {MAX_QUESTION_CHARS:,}",
            hint="ask a shorter question; to search a passage, quote a sentence of it",
        )
    return cleaned


class Hkqa:
    """Index, search, ask, summarise: the library's entry point, loading each part lazily."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        lexicon: FirmLexicon | None = None,
        llm: Any = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._lexicon = lexicon
        self._llm = llm
        self._store: Store | None = None
        self._table: ChunkTable | None = None

    # -- parts -----------------------------------------------------------------------------

    @property
    def lexicon(self) -> FirmLexicon:
        """The firm lexicon: bundled firms plus the user's `firms_file`."""
        if self._lexicon is None:
            from hkqa.firms import FirmLexicon

            self._lexicon = FirmLexicon.load(self.settings.firms_file)
        return self._lexicon

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            from hkqa.embed import load_embedder

            self._embedder = load_embedder(self.settings.embed_model)
        return self._embedder

    def store(self, *, create: bool = False) -> Store:
        """The Chroma store; with `create`, its collections are made if missing."""
        if self._store is None or create:
            from hkqa.store import Store

            self._store = Store(self.settings, create=create)
        return self._store

    def table(self) -> ChunkTable:
        """The chunk table of the index's current state (reloaded after an index run)."""
        from hkqa.table import load_table

        store = self.store()
        if self._table is None or self._table.generation != store.generation():
            self._table = load_table(store)
        return self._table

    @property
    def has_llm(self) -> bool:
        """True when an LLM was passed in or configured, so `auto` mode should use it."""
        return self._llm is not None or self.settings.llm_configured

    @property
    def llm(self) -> Any:
        """The configured LLM (loaded on first use); never the bundled model unless asked."""
        if self._llm is None:
            from hkqa.llm import load_llm

            self._llm = load_llm(self.settings)
        return self._llm

    # -- indexing --------------------------------------------------------------------------

    def index(
        self,
        paths: Sequence[Path | str] | None = None,
        *,
        sync: bool = False,
        progress: bool = False,
    ) -> IndexReport:
        """Index `paths` (files or folders; None: the bundled corpus); return what changed.
        Unreadable files are reported in the result, not raised."""
        from hkqa.indexing import index_documents, index_lock
        from hkqa.ingest import bundled_corpus_paths, load_documents
        from hkqa.store import check_index_dir

        if not self.settings.chroma_url:
            check_index_dir(Path(self.settings.index_dir))  # before the lock file lands there

        targets = [Path(p) for p in paths] if paths else bundled_corpus_paths()
        loaded = load_documents(
            targets, lexicon=self.lexicon, max_bytes=self.settings.max_file_bytes
        )
        if not loaded.documents and not sync:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in loaded.skipped[:10])
            raise NothingToIndexError(
                "no readable document in "
                + ", ".join(str(p) for p in targets)
                + (f" ({reasons})" if reasons else ""),
                hint="give .txt, .md or .html files, or folders holding them",
            )
        with index_lock(self.settings):
            report = index_documents(
                loaded.documents,
                store=self.store(create=True),
                embedder=self.embedder,
                lexicon=self.lexicon,
                sync=sync,
                progress=progress,
                batch_size=self.settings.embed_batch_size,
            )
        report.skipped = loaded.skipped
        self._table = None
        return report

    # -- reading ---------------------------------------------------------------------------

    def document(self, doc_id: str) -> Document:
        """Return one indexed document with its original text."""
        return self.store().document(doc_id)

    def documents(self) -> list[Document]:
        """Return every indexed document, by doc_id."""
        docs = self.store().documents()
        return [docs[d] for d in sorted(docs)]

    def search(
        self,
        question: str,
        *,
        k: int | None = None,
        firm: str | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        outlet: str | None = None,
        doc_ids: Sequence[str] | None = None,
        retriever: RetrieverName = "hybrid",
        collapse: bool = True,
    ) -> SearchResult:
        """Return the ranked passages for a question (hybrid BM25 + dense by default)."""
        from hkqa.retrieve import Filters, retrieve
        from hkqa.types import SearchResult

        started = time.perf_counter()
        question = clean_question(question)
        k = self.settings.k if k is None else k
        if not 1 <= k <= 1000:
            raise ConfigError(f"k must be between 1 and 1000, not {k}")
        timings: dict[str, float] = {}
        passages = retrieve(
            question,
            store=self.store(),
            table=self.table(),
            embedder=self.embedder,
            lexicon=self.lexicon,
            k=k,
            candidates=self.settings.candidates,
            filters=Filters(firm, since, until, outlet, set(doc_ids or ())),
            retriever=retriever,
            collapse=collapse,
            timings=timings,
        )
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        return SearchResult(question=question, passages=passages, timings_ms=timings)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        firm: str | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        outlet: str | None = None,
        mode: Mode | None = None,
        retriever: RetrieverName = "hybrid",
        on_token: Any = None,
    ) -> Answer:
        """Answer a question with verified verbatim quotes, or abstain when the corpus does
        not say; `mode` auto uses the configured LLM if any, else extractive."""
        from hkqa.answer import answer_question

        question = clean_question(question)
        return answer_question(
            self,
            question,
            k=k,
            firm=firm,
            since=since,
            until=until,
            outlet=outlet,
            mode=mode or self.settings.mode,
            retriever=retriever,
            on_token=on_token,
        )

    def summarize(self, **kwargs: Any) -> Summary:
        """Summarise one document (`doc_id`), one firm (`firm`) or the whole corpus."""
        from hkqa.summarize import summarize

        return summarize(self, **kwargs)

    def positions(self, **kwargs: Any) -> list[FirmPosition]:
        """Return where each firm the corpus names stands, with verified quotes."""
        from hkqa.positions import firm_positions

        return firm_positions(self, **kwargs)
