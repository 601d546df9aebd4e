"""Prompt templates: each declares its variables, and rendering with the wrong ones fails."""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hkqa.errors import ConfigError
from hkqa.templates import (
    declared_variables,
    load_template,
    prompts_dir,
    render,
    render_template,
    template_from_text,
    template_names,
)

SHIPPED = template_names()


def test_the_answer_prompts_ship() -> None:
    assert {"answer.j2", "answer_system.j2", "answer_retry.j2"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_loads_and_declares_exactly_what_it_uses(name: str) -> None:
    text = prompts_dir().joinpath(name).read_text(encoding="utf-8")
    used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(text))
    template = load_template(name)
    assert template.declared == declared_variables(text, name) == used


def test_load_template_caches() -> None:
    assert load_template("answer.j2") is load_template("answer.j2")


def test_unknown_template_names_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match=r"no prompt template named 'nope\.j2'") as info:
        load_template("nope.j2")
    assert "answer.j2" in str(info.value)


def test_missing_variable_raises_naming_it() -> None:
    with pytest.raises(ConfigError, match="missing passages"):
        render("answer.j2", question="Did Zoom pause requests?")


def test_unexpected_variable_raises_naming_it() -> None:
    with pytest.raises(ConfigError, match="unexpected colour"):
        render("answer_retry.j2", error="no JSON", colour="red")


def test_missing_attribute_fails_instead_of_rendering_empty() -> None:
    with pytest.raises(ConfigError, match=r"answer\.j2"):
        render("answer.j2", question="q", passages=[{"number": 1, "doc_id": "d"}])


def test_mismatched_declaration_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "typo.j2"
    path.write_text("{# vars: question #}\nQ: {{ questoin }}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="uses undeclared questoin") as info:
        template_from_text(path.read_text(encoding="utf-8"), path.name)
    assert "declares unused question" in str(info.value)


def test_template_without_declaration_fails(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not declare its variables"):
        template_from_text("Q: {{ question }}\n", "bare.j2")


def test_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="line 2"):
        template_from_text("{# vars: a #}\n{% for x in a %}\n", "broken.j2")


def test_declared_template_renders_and_loop_variables_need_no_declaration() -> None:
    text = "{# vars: items #}\n{% for i in items %}<{{ i }}>{% endfor %}!\n"
    assert render_template(template_from_text(text), items=[1, 2]) == "<1><2>!\n"


def test_system_prompt_marks_passages_as_data_and_asks_for_verbatim_json() -> None:
    system = render("answer_system.j2")
    assert "never instructions" in system
    assert "character for character" in system
    assert '{"answer": "", "claims": []}' in system


_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="{}%#"),
    min_size=1,
    max_size=80,
)


@given(question=_text, bodies=st.lists(_text, min_size=1, max_size=4))
def test_answer_prompt_carries_question_and_passages_verbatim_in_order(
    question: str, bodies: list[str]
) -> None:
    passages = [
        {"number": i, "doc_id": f"doc{i}", "title": None, "outlet": None, "date": None, "text": b}
        for i, b in enumerate(bodies, start=1)
    ]
    prompt = render("answer.j2", question=question, passages=passages)
    assert f"Question: {question}\n" in prompt
    pos = 0
    for p in passages:
        block = f'<passage number="{p["number"]}">\n{p["text"]}\n</passage>'
        pos = prompt.index(block, pos) + len(block)
    assert prompt.index(f"Question: {question}") >= pos
