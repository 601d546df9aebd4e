"""The gold file: hand-made questions with whether the corpus answers them, where, and what an
answer must say. `load_gold` reads and validates a JSONL gold file into `GoldItem`s, naming every
bad line, so a typo in the file is found before an evaluation runs.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hkqa.errors import GoldFileError


class GoldItem(BaseModel):
    """One gold question: whether the corpus answers it, where, and what an answer must say."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, description="Unique id of the question within its file.")
    question: str = Field(description="The question as a user would ask it.")
    answerable: bool = Field(description="True when the corpus answers the question.")
    sources: list[str] = Field(
        description="doc_ids that answer it; empty exactly when the question is unanswerable."
    )
    must: list[list[str]] = Field(
        description=(
            "Key-phrase groups an answer must all satisfy; a group is satisfied when any of its "
            "alternatives occurs in the answer (case- and typography-insensitive). Ignored for "
            "unanswerable questions."
        )
    )
    notes: str | None = Field(default=None, description="Where the answer is, for people.")

    @model_validator(mode="after")
    def _consistent(self) -> GoldItem:
        problems: list[str] = []
        if not self.question.strip():
            problems.append("'question' is empty")
        if any(not s.strip() for s in self.sources):
            problems.append("'sources' has an empty doc_id")
        for i, group in enumerate(self.must):
            if not group:
                problems.append(f"'must' group {i} is empty")
            elif any(not alt.strip() for alt in group):
                problems.append(f"'must' group {i} has an empty alternative")
        if self.answerable and not self.sources:
            problems.append("answerable question has no 'sources'")
        if self.answerable and not self.must:
            problems.append("answerable question has no 'must' groups")
        if not self.answerable and self.sources:
            problems.append("unanswerable question lists 'sources'")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def bundled_gold_path() -> Path:
    """Path of the gold file shipped with hkqa; what `run_eval` scores against by default."""
    return Path(str(resources.files("hkqa.data").joinpath("gold.jsonl")))


def _describe(err: ValidationError) -> list[str]:
    out: list[str] = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "missing":
            out.append(f"missing key '{loc}'")
        elif e["type"] == "extra_forbidden":
            out.append(f"unexpected key '{loc}'")
        elif not loc:
            out.append(str(e["msg"]).removeprefix("Value error, "))
        else:
            got = type(e["input"]).__name__
            out.append(f"'{loc}': {e['msg']} (got {got})")
    return out


def load_gold(path: Path) -> list[GoldItem]:
    """The validated questions of a JSONL gold file; raises GoldFileError naming every bad line."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldFileError(
            f"cannot read gold file {path}: {exc}", hint="pass the path of a UTF-8 JSONL file"
        ) from exc
    items: list[GoldItem] = []
    errors: list[str] = []
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {lineno}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
            continue
        try:
            item = GoldItem.model_validate(obj)
        except ValidationError as exc:
            errors.extend(f"line {lineno}: {msg}" for msg in _describe(exc))
            continue
        if item.id in first_seen:
            errors.append(
                f"line {lineno}: duplicate id {item.id!r} (first on line {first_seen[item.id]})"
            )
            continue
        first_seen[item.id] = lineno
        items.append(item)
    if errors:
        raise GoldFileError(
            f"gold file {path} has {len(errors)} problem(s):\n  " + "\n  ".join(errors),
            hint=(
                "each non-blank line must be one JSON object with keys id, question, answerable, "
                "sources, must (and optionally notes)"
            ),
        )
    if not items:
        raise GoldFileError(f"gold file {path} has no questions", hint="add one JSON object a line")
    return items
