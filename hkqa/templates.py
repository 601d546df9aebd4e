"""Prompt templates: Jinja files under `prompts/`, checked against their declared variables."""

from __future__ import annotations

import importlib.resources
import re
from functools import cache
from importlib.resources.abc import Traversable
from pathlib import Path

import jinja2
import jinja2.meta

from hkqa.errors import ConfigError

PROMPTS_PACKAGE = "hkqa.prompts"
TEMPLATE_SUFFIX = ".j2"

_DECLARATION = re.compile(r"\A\s*\{#-?\s*vars:(?P<names>[^#]*?)-?#\}")


class DeclaredTemplate(jinja2.Template):
    """A Jinja template that knows the variables its leading comment declares."""

    declared: frozenset[str] = frozenset()


_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # prompts are plain text, not HTML
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.template_class = DeclaredTemplate


def prompts_dir() -> Traversable:
    """Return the folder the shipped prompts live in, installed or in a source checkout."""
    try:
        return importlib.resources.files(PROMPTS_PACKAGE)
    except ModuleNotFoundError:
        # Running from a source checkout without installing: `prompts/` sits at the repo root.
        return Path(__file__).resolve().parent.parent / "prompts"


def template_names() -> list[str]:
    """Return the names of every shipped template, to list or check them all."""
    return sorted(
        entry.name for entry in prompts_dir().iterdir() if entry.name.endswith(TEMPLATE_SUFFIX)
    )


def declared_variables(text: str, name: str = "<template>") -> frozenset[str]:
    """Return the variables a template's leading `{# vars: ... #}` comment declares."""
    match = _DECLARATION.match(text)
    if match is None:
        raise ConfigError(
            f"prompt template {name} does not declare its variables",
            hint="start it with a comment such as {# vars: question, passages #}",
        )
    return frozenset(part.strip() for part in match["names"].split(",") if part.strip())


def template_from_text(text: str, name: str = "<template>") -> DeclaredTemplate:
    """Return the compiled template for `text`, failing if it uses other variables than declared."""
    declared = declared_variables(text, name)
    try:
        used = frozenset(jinja2.meta.find_undeclared_variables(_ENV.parse(text)))
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"prompt template {name} line {err.lineno}: {err.message}") from err
    if used != declared:
        problems = []
        if used - declared:
            problems.append(f"uses undeclared {', '.join(sorted(used - declared))}")
        if declared - used:
            problems.append(f"declares unused {', '.join(sorted(declared - used))}")
        raise ConfigError(
            f"prompt template {name} {'; '.join(problems)}",
            hint="make the leading {# vars: ... #} comment list exactly the variables it uses",
        )
    template = _ENV.from_string(text)
    assert isinstance(template, DeclaredTemplate)
    template.name = name
    template.declared = declared
    return template


@cache
def load_template(name: str) -> DeclaredTemplate:
    """Return the shipped template `name` (e.g. "answer.j2"), checked and cached."""
    entry = prompts_dir().joinpath(name)
    if not entry.is_file():
        raise ConfigError(
            f"no prompt template named {name!r}",
            hint=f"shipped templates: {', '.join(template_names()) or 'none'}",
        )
    return template_from_text(entry.read_text(encoding="utf-8"), name)


def render_template(template: DeclaredTemplate, **variables: object) -> str:
    """Return `template` rendered with exactly its declared variables, or raise ConfigError."""
    name = template.name or "<template>"
    declared = template.declared
    missing = declared - variables.keys()
    unexpected = variables.keys() - declared
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(sorted(missing))}")
        if unexpected:
            problems.append(f"unexpected {', '.join(sorted(unexpected))}")
        raise ConfigError(f"prompt template {name}: {'; '.join(problems)}")
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as err:
        raise ConfigError(f"prompt template {name}: {err.message}") from err


def render(name: str, **variables: object) -> str:
    """Return the shipped template `name` rendered with `variables`; wrong variables raise."""
    return render_template(load_template(name), **variables)
