"""Kill `hkqa index` at random points and check that the next run finishes the job exactly.

    python3 scripts/crash_trials.py --trials 50 --seed 7

Each trial starts from an empty index or from an index of an older version of the corpus,
runs `hkqa index --sync` over a corpus of generated articles (real English sentences from the
bundled articles, rearranged) plus the bundled ones, SIGKILLs it during model load, during
embedding and writing, or during the final refresh (once or twice in a row), lets the next
`hkqa index --sync` finish, and compares the result with a clean build: same chunk ids,
texts, metadata and vectors, same document records, no duplicates, no orphans, the same
near-duplicate groups, a clean generation, and a reader cache equal to the table rebuilt
from Chroma. The tests run a few seeded trials (tests/test_reliability_crash.py); this script
runs as many as asked.

Indexers run as real processes: forked from a multiprocessing fork server that has imported
torch, sentence-transformers, Chroma and hkqa once (no model loaded, nothing computed), so
each run skips the interpreter's start-up and the kills land inside hkqa's own work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

PRELOAD = [
    "numpy",
    "torch",
    "sentence_transformers",
    "chromadb",
    "chromadb.api.rust",
    "llama_index.core.schema",
    "llama_index.vector_stores.chroma",
    "filelock",
    "tqdm",
    "hkqa.cli",
    "hkqa.api",
    "hkqa.indexing",
    "hkqa.store",
    "hkqa.table",
    "hkqa.embed",
    "hkqa.retrieve",
]
PHASES = ("load", "write", "refresh")
RUN_TIMEOUT = 300.0


# ---------------------------------------------------------------------------------------------
# Corpus


def english_sentences() -> list[str]:
    """Return the full sentences of the bundled articles: real English to build articles from."""
    from hkqa.chunking import split_sentences
    from hkqa.ingest import bundled_corpus_paths

    out: list[str] = []
    for path in bundled_corpus_paths():
        text = path.read_text(encoding="utf-8")
        for s in split_sentences(path.stem, text):
            one_line = " ".join(s.text.split())
            if 40 <= len(one_line) <= 220 and one_line[-1] in ".!?”\"'’":
                out.append(one_line)
    return sorted(set(out))


def generated_articles(count: int, seed: int, version: int) -> dict[str, str]:
    """Return {file name: text} of `count` articles (version 2 changes, drops and adds some)."""
    pool = english_sentences()
    articles: dict[str, str] = {}
    for i in range(count + (3 if version == 2 else 0)):
        if version == 2 and i % 11 == 3:
            continue  # removed in version 2
        rng = random.Random(f"{seed}:{i}")
        picked = rng.sample(pool, rng.randint(4, 7))
        if version == 2 and i % 5 == 0:
            picked[-1] = rng.choice(pool)  # changed in version 2
        paragraphs = [" ".join(picked[j : j + 3]) for j in range(0, len(picked), 3)]
        headline = f"Report {i}: " + " ".join(picked[0].split()[:6]).rstrip(",.;:")
        articles[f"gen_{i:03d}.txt"] = headline + "\n\n" + "\n\n".join(paragraphs) + "\n"
    return articles


def write_corpus(folder: Path, *, articles: int, seed: int, version: int) -> None:
    """Fill `folder` with the bundled articles and the generated ones of `version`."""
    from hkqa.ingest import bundled_corpus_paths

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for path in bundled_corpus_paths():
        shutil.copyfile(path, folder / path.name)
    for name, text in generated_articles(articles, seed, version).items():
        (folder / name).write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Processes


def _redirect(out_path: str, err_path: str) -> None:
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)


def _cli_child(argv: list[str], out_path: str, err_path: str) -> None:
    """Run `hkqa ARGV` in this (forked) process, its output going to the two files."""
    _redirect(out_path, err_path)
    from hkqa.cli import main

    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _phased_child(
    argv: list[str], out_path: str, err_path: str, times_path: str, entered: dict[str, Any]
) -> None:
    """Run `hkqa ARGV`, recording when the model was loaded and when the refresh began.

    Each phase boundary is written to `times_path` at the end and, as it happens, set on the
    matching event in `entered` ("write": the model is loaded; "refresh": the refresh began),
    so a parent can aim a kill at a phase however fast or slow this run is.
    """
    _redirect(out_path, err_path)
    import hkqa.embed
    import hkqa.indexing
    from hkqa.cli import main

    started = time.monotonic()
    times: dict[str, float] = {}
    load, refresh = hkqa.embed.load_embedder, hkqa.indexing.refresh

    def timed_load(*args: Any, **kwargs: Any) -> Any:
        embedder = load(*args, **kwargs)
        times.setdefault("loaded", time.monotonic() - started)
        entered["write"].set()
        return embedder

    def timed_refresh(*args: Any, **kwargs: Any) -> Any:
        times.setdefault("refresh", time.monotonic() - started)
        entered["refresh"].set()
        return refresh(*args, **kwargs)

    hkqa.embed.load_embedder = timed_load  # type: ignore[assignment]
    hkqa.indexing.refresh = timed_refresh
    code = main(argv)
    times["end"] = time.monotonic() - started
    Path(times_path).write_text(json.dumps(times))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _state_child(index_dir: str, out_path: str, err_path: str, state_path: str) -> None:
    """Write the observable state of the index at `index_dir` to `state_path` (+ .npz)."""
    _redirect(out_path, err_path)
    state = capture_state(Path(index_dir))
    vectors = state.pop("vectors")
    np.savez(state_path + ".npz", ids=np.array(state["vector_ids"]), vectors=vectors)
    Path(state_path).write_text(json.dumps(state))
    os._exit(0)


@dataclass
class Run:
    """What one child process did."""

    argv: list[str]
    code: int | None
    out: str
    err: str
    seconds: float
    killed_at: float | None = None


class Runner:
    """Starts hkqa runs as processes forked from a preloaded fork server."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ctx: ForkServerContext = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self._n = 0

    def _paths(self) -> tuple[str, str]:
        self._n += 1
        return str(self.logs / f"{self._n:04d}.out"), str(self.logs / f"{self._n:04d}.err")

    def _finish(
        self,
        proc: BaseProcess,
        argv: list[str],
        paths: tuple[str, str],
        started: float,
        killed_at: float | None = None,
    ) -> Run:
        proc.join(RUN_TIMEOUT)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise TimeoutError(f"hkqa {' '.join(argv)} did not finish in {RUN_TIMEOUT:g}s")
        # A run killed before it opened its output files has written nothing.
        out, err = (_read_if_any(Path(path)) for path in paths)
        return Run(argv, proc.exitcode, out, err, time.monotonic() - started, killed_at)

    def run(self, argv: list[str]) -> Run:
        """Run `hkqa ARGV` to the end."""
        paths = self._paths()
        started = time.monotonic()
        proc = self.ctx.Process(target=_cli_child, args=(argv, *paths))
        proc.start()
        return self._finish(proc, argv, paths, started)

    def _start_phased(
        self, argv: list[str]
    ) -> tuple[BaseProcess, tuple[str, str], str, dict[str, Any]]:
        paths = self._paths()
        times_path = paths[0] + ".times"
        entered = {"write": self.ctx.Event(), "refresh": self.ctx.Event()}
        proc = self.ctx.Process(target=_phased_child, args=(argv, *paths, times_path, entered))
        proc.start()
        return proc, paths, times_path, entered

    def run_timed(self, argv: list[str]) -> tuple[Run, dict[str, float]]:
        """Run `hkqa ARGV` to the end; also return when its phases began."""
        started = time.monotonic()
        proc, paths, times_path, _ = self._start_phased(argv)
        run = self._finish(proc, argv, paths, started)
        return run, json.loads(Path(times_path).read_text())

    def run_and_kill(self, argv: list[str], phase: str, after: float) -> Run:
        """Run `hkqa ARGV` and SIGKILL it `after` seconds into `phase` (if still running).

        "load" counts from the process's start; "write" from the moment the model is loaded;
        "refresh" from the moment the refresh begins. A run that ends first is not killed.
        """
        started = time.monotonic()
        proc, paths, _, entered = self._start_phased(argv)
        if phase != "load":
            deadline = started + RUN_TIMEOUT
            while not entered[phase].wait(0.005):
                if not proc.is_alive() or time.monotonic() > deadline:
                    break
        proc.join(after)
        killed_at = None
        if proc.is_alive():
            proc.kill()
            killed_at = time.monotonic() - started
        return self._finish(proc, argv, paths, started, killed_at)

    def state(self, index_dir: Path) -> dict[str, Any]:
        """Return the observable state of an index, read by a fresh process."""
        paths = self._paths()
        state_path = paths[0] + ".state.json"
        started = time.monotonic()
        proc = self.ctx.Process(target=_state_child, args=(str(index_dir), *paths, state_path))
        proc.start()
        run = self._finish(proc, ["<state>", str(index_dir)], paths, started)
        if run.code != 0:
            raise RuntimeError(f"reading the state of {index_dir} failed:\n{run.err[-3000:]}")
        state: dict[str, Any] = json.loads(Path(state_path).read_text())
        with np.load(state_path + ".npz") as npz:
            state["vectors"] = dict(zip(npz["ids"].tolist(), npz["vectors"], strict=True))
        return state


def _read_if_any(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def run_cli(argv: Sequence[str], timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run the installed `hkqa` command (a fresh interpreter) to the end."""
    return subprocess.run(
        [sys.executable, "-m", "hkqa.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ---------------------------------------------------------------------------------------------
# State


def capture_state(index_dir: Path) -> dict[str, Any]:
    """Return everything a user could observe of the index at `index_dir`, plus problems."""
    from hkqa.api import Hkqa
    from hkqa.chunking import chunk_document
    from hkqa.config import Settings
    from hkqa.store import Store
    from hkqa.table import ChunkTable

    problems: list[str] = []
    h = Hkqa(Settings(index_dir=index_dir))
    store: Store = h.store()
    generation = store.generation()
    if Store.is_dirty(generation):
        problems.append(f"generation is {generation!r} after a finished run")
    docs = store.documents()
    chunks: dict[str, Any] = {}
    spans: dict[tuple[str, int, int], str] = {}
    vector_ids: list[str] = []
    vectors: list[Any] = []
    for ids, texts, metas, embeddings in store.iter_chunk_records(with_embeddings=True):
        for cid, text, meta, vec in zip(ids, texts, metas, embeddings, strict=True):
            slim = {k: v for k, v in meta.items() if not k.startswith("_")}
            if cid in chunks:
                problems.append(f"chunk {cid} stored twice")
            chunks[cid] = {"text": text, "meta": slim}
            span = (meta["doc_id"], meta["start"], meta["end"])
            if span in spans:
                problems.append(f"chunks {spans[span]} and {cid} cover the same span {span}")
            spans[span] = cid
            doc = docs.get(meta["doc_id"])
            if doc is None:
                problems.append(f"chunk {cid} of missing document {meta['doc_id']!r}")
            elif doc.content_hash != meta.get("doc_hash"):
                problems.append(f"chunk {cid} of another version of {doc.doc_id!r}")
            elif doc.text[meta["start"] : meta["end"]] != text:
                problems.append(f"chunk {cid} text differs from its document's span")
            vector_ids.append(cid)
            vectors.append(np.asarray(vec, dtype=np.float32))
    for doc in docs.values():
        want = {c.chunk_id for c in chunk_document(doc)}
        have = {cid for cid, c in chunks.items() if c["meta"]["doc_id"] == doc.doc_id}
        if want != have:
            problems.append(
                f"document {doc.doc_id!r} has {len(have)} chunks, {len(want & have)} of the "
                f"{len(want)} it should have"
            )
    # The vector index holds every chunk exactly once.
    if vectors:
        got = store.chunks.query(
            query_embeddings=[vectors[0].tolist()], n_results=len(vectors), include=[]
        )["ids"][0]
        if sorted(got) != sorted(vector_ids):
            problems.append(
                f"the vector index returns {len(got)} ids ({len(set(got))} distinct) for "
                f"{len(vector_ids)} chunks"
            )
    # The reader cache a fresh Hkqa loads equals the table rebuilt from Chroma.
    cached = h.table()
    rebuilt = ChunkTable.from_store(store)
    for name in ("ids", "texts", "metas", "generation"):
        if getattr(cached, name) != getattr(rebuilt, name):
            problems.append(f"the reader cache's {name} differ from Chroma's")
    if cached.generation != generation:
        problems.append("the reader cache belongs to another generation")
    # A search works and its passages point at the right text.
    result = h.search("Which firms paused data requests from Hong Kong authorities?", k=5)
    if not result.passages:
        problems.append("a search found nothing")
    for p in result.passages:
        doc = docs[p.chunk.doc_id]
        if doc.text[p.chunk.start : p.chunk.end] != p.chunk.text:
            problems.append(f"passage {p.chunk.chunk_id} does not match its document")
    return {
        "problems": problems,
        "chunks": chunks,
        "docs": {
            d.doc_id: d.model_dump(mode="json", exclude={"source"}) | {"source": d.source}
            for d in docs.values()
        },
        "groups": sorted(
            sorted(cid for cid, c in chunks.items() if c["meta"]["dup_group"] == g)
            for g in {c["meta"]["dup_group"] for c in chunks.values()}
        ),
        "vector_ids": vector_ids,
        "vectors": np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32),
    }


def compare_states(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Return how `got` differs from the clean build `want` (empty when identical)."""
    diffs = list(got["problems"])
    if set(got["chunks"]) != set(want["chunks"]):
        extra = sorted(set(got["chunks"]) - set(want["chunks"]))
        missing = sorted(set(want["chunks"]) - set(got["chunks"]))
        diffs.append(f"chunk ids differ: {len(extra)} extra, {len(missing)} missing")
    else:
        for cid, chunk in want["chunks"].items():
            if got["chunks"][cid] != chunk:
                mine, theirs = got["chunks"][cid]["meta"], chunk["meta"]
                keys = mine.keys() | theirs.keys()
                fields = sorted(k for k in keys if mine.get(k) != theirs.get(k))
                diffs.append(f"chunk {cid} differs in {fields or ['text']}")
                break
        vectors = got["vectors"]
        worst = max(
            (float(np.abs(vectors[cid] - vec).max()) for cid, vec in want["vectors"].items()),
            default=0.0,
        )
        if worst > 1e-4:
            diffs.append(f"vectors differ from the clean build's by up to {worst:.2g}")
    if set(got["docs"]) != set(want["docs"]):
        extra = sorted(set(got["docs"]) - set(want["docs"]))
        missing = sorted(set(want["docs"]) - set(got["docs"]))
        diffs.append(f"document records differ: extra {extra}, missing {missing}")
    else:
        for doc_id, doc in want["docs"].items():
            fields = [k for k in doc if got["docs"][doc_id].get(k) != doc[k]]
            if fields:
                diffs.append(f"document {doc_id!r} differs in {fields}")
                break
    if got["groups"] != want["groups"]:
        diffs.append("near-duplicate groups differ")
    return diffs


# ---------------------------------------------------------------------------------------------
# Trials


@dataclass
class Trial:
    """One trial: where it starts, when the kills land, and what came out."""

    number: int
    start: str  # "empty" or "v1"
    kills: list[tuple[str, float]]  # (phase, seconds into that phase)
    runs: list[Run] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)

    def describe(self) -> str:
        kills = ", ".join(f"{phase}+{t:.2f}s" for phase, t in self.kills)
        landed = ", ".join(
            "finished" if r.killed_at is None else f"killed@{r.killed_at:.2f}s" for r in self.runs
        )
        return f"trial {self.number}: from {self.start}, kills {kills} -> {landed}"


class CrashLab:
    """A corpus, its clean build, an older build to update from, and a runner for trials."""

    def __init__(self, work: Path, *, articles: int = 64, seed: int = 1) -> None:
        self.work = work
        self.seed = seed
        self.articles = articles
        self.corpus = work / "corpus"
        self.runner = Runner(work)
        self.phase_times: dict[str, dict[str, float]] = {}

    def argv(self, index_dir: Path) -> list[str]:
        return ["index", str(self.corpus), "--sync", "--index", str(index_dir), "--quiet"]

    def prepare(self) -> None:
        """Build the old version's index and the clean build, timing the phases of a run."""
        write_corpus(self.corpus, articles=self.articles, seed=self.seed, version=1)
        self.v1 = self.work / "v1"
        run = self.runner.run(self.argv(self.v1))
        _check_finished(run)
        write_corpus(self.corpus, articles=self.articles, seed=self.seed, version=2)
        self.clean = self.work / "clean"
        run, self.phase_times["empty"] = self.runner.run_timed(self.argv(self.clean))
        _check_finished(run)
        self.reference = self.runner.state(self.clean)
        if self.reference["problems"]:
            raise AssertionError(f"the clean build has problems: {self.reference['problems']}")
        updated = self.work / "updated"
        shutil.copytree(self.v1, updated)
        run, self.phase_times["v1"] = self.runner.run_timed(self.argv(updated))
        _check_finished(run)
        diffs = compare_states(self.runner.state(updated), self.reference)
        if diffs:
            raise AssertionError(f"updating the old build differs from a clean one: {diffs}")
        shutil.rmtree(updated)

    def plan(self, number: int) -> Trial:
        """Return trial `number`'s plan, a function of the seed and the number only."""
        rng = random.Random(f"{self.seed}/{number}")
        start = "v1" if number % 4 else "empty"
        times = self.phase_times[start]
        lengths = {
            "load": times["loaded"],
            "write": times["refresh"] - times["loaded"],
            "refresh": times["end"] - times["refresh"],
        }
        kills = []
        for k in range(2 if rng.random() < 0.25 else 1):
            phase = PHASES[(number + k) % len(PHASES)]
            # Most of the phase, not its very end: a run a little faster than the timed one
            # must still be inside the phase when the kill lands.
            kills.append((phase, rng.uniform(0.0, 0.8 * lengths[phase])))
        return Trial(number, start, kills)

    def trial(self, number: int) -> Trial:
        """Run trial `number`: kill, finish, compare with the clean build."""
        trial = self.plan(number)
        index_dir = self.work / f"trial-{number}"
        if index_dir.exists():
            shutil.rmtree(index_dir)
        if trial.start == "v1":
            shutil.copytree(self.v1, index_dir)
        argv = self.argv(index_dir)
        for phase, after in trial.kills:
            run = self.runner.run_and_kill(argv, phase, after)
            trial.runs.append(run)
            if run.killed_at is None and run.code != 0:
                trial.diffs.append(f"the run exited {run.code} before the kill:\n{run.err}")
                return trial
        final = self.runner.run([*argv[:-1], "--json"])
        trial.runs.append(final)
        if final.code != 0:
            trial.diffs.append(f"the run after the kill exited {final.code}:\n{final.err}")
            return trial
        report = json.loads(final.out)
        if report["chunks"] != len(self.reference["chunks"]):
            trial.diffs.append(f"the run after the kill reports {report['chunks']} chunks")
        trial.diffs.extend(compare_states(self.runner.state(index_dir), self.reference))
        if not trial.diffs:
            shutil.rmtree(index_dir)
        return trial


def _check_finished(run: Run) -> None:
    if run.code != 0:
        raise AssertionError(f"hkqa {' '.join(run.argv)} exited {run.code}:\n{run.err}")


def corpus_digest(folder: Path) -> str:
    """Return a digest of a corpus folder (names and bytes), to tell runs apart in logs."""
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def main(argv: Sequence[str] | None = None) -> int:
    """Run crash trials; return 1 when any trial ended different from the clean build."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--articles", type=int, default=64)
    parser.add_argument("--first", type=int, default=0, help="number of the first trial")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="hkqa-crash-"))
    lab = CrashLab(work, articles=args.articles, seed=args.seed)
    started = time.monotonic()
    lab.prepare()
    print(
        f"corpus {corpus_digest(lab.corpus)}: {len(lab.reference['docs'])} documents, "
        f"{len(lab.reference['chunks'])} chunks; phases {json.dumps(lab.phase_times)}"
    )
    failed = 0
    for number in range(args.first, args.first + args.trials):
        trial = lab.trial(number)
        print(("FAIL " if trial.diffs else "ok   ") + trial.describe(), flush=True)
        for diff in trial.diffs:
            print("     " + diff.replace("\n", "\n     "))
        failed += bool(trial.diffs)
    print(f"{args.trials - failed} passed, {failed} failed [{time.monotonic() - started:.0f}s]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
