"""The firm lexicon: which firms a text names, under any alias, and who owns them."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hkqa.errors import ConfigError

BUNDLED_FIRMS = "firms.json"


class Firm(BaseModel):
    """A firm, the names it goes by, and its parent firm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Canonical name, e.g. 'WhatsApp'.")
    aliases: list[str] = Field(
        default_factory=list, description="Other names it goes by, e.g. 'WhatsApp Inc'."
    )
    owner: str | None = Field(default=None, description="Canonical name or alias of its parent.")
    case_sensitive: bool = Field(
        default=False,
        description="Match the name and aliases with exact case; for names that are common words.",
    )
    case_sensitive_aliases: list[str] = Field(
        default_factory=list,
        description="Aliases matched with exact case even when the others are not (e.g. 'Meta').",
    )

    @field_validator("name", "owner")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("aliases", "case_sensitive_aliases")
    @classmethod
    def _strip_aliases(cls, values: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in values]
        if any(not v for v in cleaned):
            raise ValueError("aliases must not be blank")
        return cleaned

    def surface_forms(self) -> list[tuple[str, bool]]:
        """Every name of the firm with whether it matches case-sensitively, name first."""
        seen: set[str] = set()
        forms: list[tuple[str, bool]] = []
        for alias, exact in [
            (self.name, self.case_sensitive),
            *((a, self.case_sensitive) for a in self.aliases),
            *((a, True) for a in self.case_sensitive_aliases),
        ]:
            if alias not in seen:
                seen.add(alias)
                forms.append((alias, exact))
        return forms


class FirmMention(BaseModel):
    """One place a text names a firm."""

    model_config = ConfigDict(extra="forbid")

    firm: str = Field(description="Canonical name of the firm named.")
    surface: str = Field(description="The text as written, exactly `text[start:end]`.")
    start: int = Field(description="Offset of the first character in the text.")
    end: int = Field(description="Offset one past the last character in the text.")


class _FirmFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    firms: list[Firm] = Field(description="The firms the file defines or extends.")


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


_Trie = dict[str, "_Trie"]
_END = ""
_SPACE = " "


def _trie(aliases: Iterable[str]) -> _Trie:
    """A character trie of `aliases`, case folded, with runs of whitespace as one step."""
    root: _Trie = {}
    for alias in aliases:
        node = root
        for i, token in enumerate(alias.split()):
            steps = [_SPACE] if i else []
            steps += [c.lower() if len(c.lower()) == 1 else c for c in token]
            for step in steps:
                node = node.setdefault(step, {})
        node[_END] = {}
    return root


def _trie_pattern(node: _Trie) -> str:
    """A regex matching exactly the strings of trie `node`, for use with re.IGNORECASE."""
    branches = [
        (r"\s+" if step == _SPACE else re.escape(step)) + _trie_pattern(child)
        for step, child in sorted(node.items())
        if step != _END
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    if _END in node:
        return f"(?:{body})?"
    return body


def _alias_pattern(alias: str, exact: bool) -> str:
    body = r"\s+".join(re.escape(token) for token in alias.split())
    return body if exact else f"(?i:{body})"


class FirmLexicon:
    """Firms with their aliases and owners, and a precompiled matcher over all their names."""

    def __init__(self, firms: Iterable[Firm], *, source: str = "firm lexicon") -> None:
        self._firms: dict[str, Firm] = {}
        self._by_key: dict[str, str] = {}
        for firm in firms:
            if firm.name in self._firms:
                raise ConfigError(f"{source}: firm {firm.name!r} is defined twice")
            self._firms[firm.name] = firm
            for alias, _ in firm.surface_forms():
                other = self._by_key.setdefault(_key(alias), firm.name)
                if other != firm.name:
                    raise ConfigError(
                        f"{source}: alias {alias!r} names both {other!r} and {firm.name!r}",
                        hint="give each alias to one firm only",
                    )
        self._owner: dict[str, str] = {}
        for firm in self._firms.values():
            if firm.owner is None:
                continue
            owner = self._by_key.get(_key(firm.owner))
            if owner is None:
                raise ConfigError(
                    f"{source}: firm {firm.name!r} has owner {firm.owner!r}, which is not a firm",
                    hint=f"add an entry for {firm.owner!r} or fix the owner's name",
                )
            if owner == firm.name:
                raise ConfigError(f"{source}: firm {firm.name!r} cannot own itself")
            self._owner[firm.name] = owner
        for name in self._firms:
            self._owner_chain(name, source)
        self._group_firm: dict[str, str] = {}
        branches: list[tuple[int, str]] = []
        for firm in self._firms.values():
            for alias, exact in firm.surface_forms():
                group = f"a{len(self._group_firm)}"
                self._group_firm[group] = firm.name
                branches.append((len(alias), f"(?P<{group}>{_alias_pattern(alias, exact)})"))
        # Longest alias first, so "Meta Platforms" wins over "Meta" at the same offset.
        branches.sort(key=lambda b: -b[0])
        alternation = "|".join(b for _, b in branches) or r"(?!)"
        self._exact = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)")
        # Trying every alias at every offset is slow; a case-blind trie of all aliases finds the
        # few offsets where one may start, and `_exact` then decides there.
        trie = _trie(alias for firm in self._firms.values() for alias, _ in firm.surface_forms())
        self._candidates = re.compile(rf"(?<!\w){_trie_pattern(trie) or '(?!)'}(?!\w)", re.I)

    def _matches(self, text: str) -> Iterator[re.Match[str]]:
        """Leftmost-longest, non-overlapping matches of any alias in `text`."""
        search, match = self._candidates.search, self._exact.match
        pos = 0
        while (candidate := search(text, pos)) is not None:
            found = match(text, candidate.start())
            if found is None:
                pos = candidate.start() + 1
            else:
                yield found
                pos = found.end()

    def _owner_chain(self, name: str, source: str) -> list[str]:
        chain: list[str] = []
        current = self._owner.get(name)
        while current is not None:
            if current == name or current in chain:
                raise ConfigError(f"{source}: ownership of {name!r} goes round in a circle")
            chain.append(current)
            current = self._owner.get(current)
        return chain

    @classmethod
    def load(cls, extra_file: Path | None = None) -> FirmLexicon:
        """The bundled lexicon, extended by `extra_file` if given; what every caller starts from."""
        if extra_file is None:
            return _bundled()
        try:
            data = extra_file.read_bytes() if extra_file.is_file() else None
        except OSError as err:
            raise ConfigError(
                f"firms file {extra_file} cannot be read: {err.strerror or err}"
            ) from err
        extra = _read_firm_file(data, str(extra_file))
        return cls(_merge(_bundled().firms(), extra), source=f"firms file {extra_file}")

    def firms(self) -> list[Firm]:
        """Every firm in the lexicon, in definition order; for listing or extending it."""
        return list(self._firms.values())

    def names(self) -> list[str]:
        """Sorted canonical names of every firm; to list what hkqa recognises."""
        return sorted(self._firms)

    def find(self, text: str) -> list[FirmMention]:
        """Non-overlapping firm mentions in `text`, in order; for tagging chunks and questions."""
        mentions: list[FirmMention] = []
        for match in self._matches(text):
            assert match.lastgroup is not None
            mentions.append(
                FirmMention(
                    firm=self._group_firm[match.lastgroup],
                    surface=match.group(),
                    start=match.start(),
                    end=match.end(),
                )
            )
        return mentions

    def firms_in(self, text: str, *, owners: bool = True) -> list[str]:
        """Sorted canonical names of the firms `text` names, and with `owners` their parents too."""
        found: set[str] = set()
        for match in self._matches(text):
            assert match.lastgroup is not None
            found.add(self._group_firm[match.lastgroup])
        if owners:
            for name in list(found):
                found.update(self._owner_chain(name, "firm lexicon"))
        return sorted(found)

    def resolve(self, name: str) -> Firm | None:
        """The firm `name` (any alias, any case) refers to, or None; to canonicalise user input."""
        canonical = self._by_key.get(_key(name))
        return None if canonical is None else self._firms[canonical]

    def owner_of(self, name: str) -> str | None:
        """Canonical name of the direct parent of firm `name`, or None when it has none."""
        firm = self.resolve(name)
        return None if firm is None else self._owner.get(firm.name)

    def subsidiaries(self, name: str) -> list[str]:
        """Sorted canonical names of every firm owned by `name`, directly or further down."""
        firm = self.resolve(name)
        if firm is None:
            return []
        return sorted(child for child in self._firms if firm.name in self._owner_chain(child, ""))

    def aliases_for(self, name: str) -> list[str]:
        """Every surface form of firm `name`, canonical name first; for query expansion."""
        firm = self.resolve(name)
        return [] if firm is None else [alias for alias, _ in firm.surface_forms()]


def _read_firm_file(data: bytes | None, source: str) -> list[Firm]:
    """The firms a JSON file defines, or ConfigError naming the file and what is wrong."""
    if data is None:
        raise ConfigError(
            f"firms file {source} does not exist or is not a file",
            hint="check the path given as firms_file (HKQA_FIRMS_FILE)",
        )
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"firms file {source} is not UTF-8: {err}") from err
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"firms file {source} is not valid JSON: {err.msg} at line {err.lineno} "
            f"column {err.colno}"
        ) from err
    try:
        return _FirmFile.model_validate(raw).firms
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        )
        raise ConfigError(
            f"firms file {source} does not match the expected shape: {problems}",
            hint='expected {"firms": [{"name": ..., "aliases": [...], "owner": ...}]}',
        ) from err


def _merge(base: Sequence[Firm], extra: Sequence[Firm]) -> list[Firm]:
    """`base` with `extra` applied: new firms added, known ones given more aliases or an owner."""
    merged = {firm.name: firm.model_copy(deep=True) for firm in base}
    keys = {_key(alias): firm.name for firm in base for alias, _ in firm.surface_forms()}
    for entry in extra:
        target = keys.get(_key(entry.name))
        if target is None:
            merged[entry.name] = entry
            keys.update({_key(alias): entry.name for alias, _ in entry.surface_forms()})
            continue
        firm = merged[target]
        known = {_key(alias) for alias, _ in firm.surface_forms()}
        update: dict[str, object] = {
            "aliases": [*firm.aliases, *_new(known, [entry.name, *entry.aliases])],
            "case_sensitive_aliases": [
                *firm.case_sensitive_aliases,
                *_new(known, entry.case_sensitive_aliases),
            ],
        }
        if entry.owner is not None:
            update["owner"] = entry.owner
        if "case_sensitive" in entry.model_fields_set:
            update["case_sensitive"] = entry.case_sensitive
        merged[target] = firm.model_copy(update=update)
        keys.update({_key(alias): target for alias, _ in merged[target].surface_forms()})
    return list(merged.values())


def _new(known: set[str], aliases: Iterable[str]) -> list[str]:
    """The `aliases` whose key is not in `known` yet, adding each to it."""
    fresh = []
    for alias in aliases:
        if _key(alias) not in known:
            known.add(_key(alias))
            fresh.append(alias)
    return fresh


@functools.cache
def _bundled() -> FirmLexicon:
    data = resources.files("hkqa.data").joinpath(BUNDLED_FIRMS).read_bytes()
    source = f"bundled {BUNDLED_FIRMS}"
    return FirmLexicon(_read_firm_file(data, source), source=source)
