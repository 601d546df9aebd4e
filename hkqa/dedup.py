"""Near-duplicate passages across documents: the same statement re-reported by several outlets.

Passages are compared by word 3-gram shingles. Two chunks of different documents are
near-duplicates when they share a long verbatim run (a quoted statement) or most of the
shorter one's shingles; groups are the connected components of that relation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SHINGLE = 3
# A shingle found in more chunks than this is boilerplate ("one of the"), not evidence.
_MAX_POSTINGS = 200


@dataclass(frozen=True)
class DupThresholds:
    """When two passages count as the same statement."""

    shared_run: int = 8  # this many shared shingles is a ~10-word verbatim run
    containment: float = 0.5  # or this share of the shorter passage's shingles
    min_shared: int = 3  # and never fewer than this


def shingles(text: str) -> set[int]:
    """Return hashed word 3-grams of a passage, case- and punctuation-insensitive."""
    words = [w.replace("’", "'") for w in _WORD.findall(text.casefold())]
    if len(words) < SHINGLE:
        return {hash(" ".join(words))} if words else set()
    return {hash(" ".join(words[i : i + SHINGLE])) for i in range(len(words) - SHINGLE + 1)}


def near_duplicate_groups(
    chunks: Iterable[tuple[str, str, str]], thresholds: DupThresholds = DupThresholds()
) -> dict[str, str]:
    """Return {chunk_id: group_id} for (chunk_id, doc_id, text) triples; the group id is the
    smallest chunk id in the group, so it is stable for the same corpus."""
    ids: list[str] = []
    docs: list[str] = []
    sets: list[set[int]] = []
    postings: dict[int, list[int]] = defaultdict(list)
    for cid, doc_id, text in chunks:
        idx = len(ids)
        ids.append(cid)
        docs.append(doc_id)
        sh = shingles(text)
        sets.append(sh)
        for s in sh:
            postings[s].append(idx)

    parent = list(range(len(ids)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, sh in enumerate(sets):
        shared: dict[int, int] = defaultdict(int)
        for s in sh:
            plist = postings[s]
            if len(plist) > _MAX_POSTINGS:
                continue
            for j in plist:
                if j > i and docs[j] != docs[i]:
                    shared[j] += 1
        for j, n in shared.items():
            smaller = min(len(sh), len(sets[j])) or 1
            if n >= thresholds.min_shared and (
                n >= thresholds.shared_run or n / smaller >= thresholds.containment
            ):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)

    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ids)):
        members[find(i)].append(i)
    groups: dict[str, str] = {}
    for idxs in members.values():
        gid = min(ids[i] for i in idxs)
        for i in idxs:
            groups[ids[i]] = gid
    return groups
