"""Drafting an answer with an LLM: prompt it with the passages, parse its JSON, retry once.

The draft is not trusted: the caller verifies every quote against its source document and drops
the claims whose quote does not stand there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hkqa.chunking import split_sentences
from hkqa.errors import LLMError
from hkqa.llm import LlamaCppLLM, structured_output_kwargs
from hkqa.templates import render
from hkqa.types import Passage

MAX_PASSAGE_CHARS = 1500
MAX_CLAIMS = 3
MAX_ANSWER_CHARS = 400
MAX_CLAIM_TEXT_CHARS = 160
MAX_QUOTE_CHARS = 400
MIN_QUOTE_CHARS = 12
"""`verify.find_quote` refuses shorter quotes as too little to be evidence."""
JSON_OVERHEAD_CHARS = 40
"""Room for the keys and punctuation of the reply or of one claim."""
CHARS_PER_TOKEN = 3
"""A cautious estimate for English and JSON, used where the LLM cannot count its tokens."""
PROMPT_MARGIN_TOKENS = 32
INVALID_OUTPUT_LIMIT = 2


class Claim(BaseModel):
    """One fact of a drafted answer, with the quote the LLM says backs it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The claim in a few words.")
    source: int = Field(description="1-based number of the passage it comes from.")
    quote: str = Field(description="Words the LLM copied from that passage; not yet verified.")


class Draft(BaseModel):
    """What the LLM drafted, unverified, with how many tries it took and what it wrote."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="The answer text; empty when the LLM found no answer.")
    claims: list[Claim] = Field(description="Claims whose source is a passage it was shown.")
    attempts: int = Field(description="LLM calls made: 0 without passages, else 1 or 2.")
    raw: list[str] = Field(description="The LLM's raw reply to each call, in order.")
    invalid_outputs: int = Field(description="Replies that were not the JSON asked for.")
    dropped_out_of_range: int = Field(
        default=0, description="Claims dropped because their source names no passage shown."
    )
    passages_shown: int = Field(
        default=0, description="How many of the passages, from the first, fitted in the prompt."
    )


class Reply(BaseModel):
    """The JSON object the prompt asks for."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="The answer text.")
    claims: list[Claim] = Field(description="The claims backing it.")


class PromptPassage(BaseModel):
    """A passage as the prompt shows it to the LLM."""

    model_config = ConfigDict(extra="forbid")

    number: int = Field(description="1-based position in the passages given.")
    doc_id: str = Field(description="Source document.")
    title: str | None = Field(description="Source title.")
    outlet: str | None = Field(description="Source outlet.")
    date: str | None = Field(description="Source date.")
    text: str = Field(description="Verbatim text of the source shown to the LLM.")


def draft_answer(
    llm: LLM,
    question: str,
    passages: Sequence[Passage],
    *,
    on_token: Callable[[str], None] | None = None,
    max_passage_chars: int = MAX_PASSAGE_CHARS,
) -> Draft:
    """Return the LLM's unverified answer to `question` from `passages`; `ask` verifies it next.

    Claim sources are 1-based positions in `passages`. Bad model output never raises: after two
    unusable replies the draft has no claims. `on_token` receives each reply as it streams (a
    retry streams a second one).
    Raises LLMError only when the LLM itself fails (unreachable, out of context, ...).
    """
    if not passages:
        return Draft(answer="", claims=[], attempts=0, raw=[], invalid_outputs=0)
    system = render("answer_system.j2")
    shown = fit_passages(llm, question, passages, max_passage_chars=max_passage_chars)
    user = render("answer.j2", **_prompt_vars(question, shown))
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content=system),
        ChatMessage(role=MessageRole.USER, content=user),
    ]
    kwargs = structured_output_kwargs(llm, reply_schema(llm, shown))
    raw: list[str] = []
    invalid = 0
    while True:
        text = _call(llm, messages, kwargs, on_token)
        raw.append(text)
        reply, error = parse_reply(text)
        if reply is not None:
            break
        invalid += 1
        if invalid >= INVALID_OUTPUT_LIMIT:
            return Draft(
                answer="",
                claims=[],
                attempts=len(raw),
                raw=raw,
                invalid_outputs=invalid,
                passages_shown=len(shown),
            )
        messages += [
            ChatMessage(role=MessageRole.ASSISTANT, content=text),
            ChatMessage(role=MessageRole.USER, content=render("answer_retry.j2", error=error)),
        ]
    kept = [claim for claim in reply.claims if 1 <= claim.source <= len(shown)]
    return Draft(
        answer=reply.answer.strip(),
        claims=kept,
        attempts=len(raw),
        raw=raw,
        invalid_outputs=invalid,
        dropped_out_of_range=len(reply.claims) - len(kept),
        passages_shown=len(shown),
    )


def parse_reply(text: str) -> tuple[Reply | None, str]:
    """Return the reply parsed from the LLM's text, or None and what was wrong with it.

    Code fences and prose around the JSON are tolerated: the first JSON object found is used.
    """
    obj = parse_json_object(text)
    if obj is None:
        return None, "it contained no JSON object"
    try:
        return Reply.model_validate(obj), ""
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'reply'}: {e['msg']}"
            for e in err.errors()[:3]
        )
        return None, f"the JSON did not have the required fields ({problems})"


def reply_schema(llm: LLM, shown: Sequence[PromptPassage]) -> dict[str, Any]:
    """Return the JSON schema of the reply, sized so a reply fits the LLM's output budget.

    Each claim's quote is one of the sentences of the passage it cites, so a grammar built from
    the schema makes even a weak model quote verbatim; the caller still verifies every quote.
    """
    budget = llm.metadata.num_output * CHARS_PER_TOKEN - JSON_OVERHEAD_CHARS
    answer_chars = max(40, min(MAX_ANSWER_CHARS, budget // 4))
    claim_chars = max(30, min(MAX_CLAIM_TEXT_CHARS, budget // 8))
    quote_chars = min(MAX_QUOTE_CHARS, budget - answer_chars - claim_chars - JSON_OVERHEAD_CHARS)
    branches = []
    longest = 0
    for passage in shown:
        sentences = _quotable_sentences(passage.text, quote_chars)
        if not sentences:
            continue
        longest = max(longest, *(len(s) for s in sentences))
        branches.append(
            {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "maxLength": claim_chars},
                    "source": {"const": passage.number},
                    "quote": {"enum": sentences},
                },
                "required": ["text", "source", "quote"],
                "additionalProperties": False,
            }
        )
    per_claim = claim_chars + longest + JSON_OVERHEAD_CHARS
    max_claims = max(1, min(MAX_CLAIMS, (budget - answer_chars) // per_claim)) if branches else 0
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": answer_chars},
            "claims": {
                "type": "array",
                "maxItems": max_claims,
                "items": {"anyOf": branches} if branches else {"type": "object"},
            },
        },
        "required": ["answer", "claims"],
        "additionalProperties": False,
    }


def fit_passages(
    llm: LLM,
    question: str,
    passages: Sequence[Passage],
    *,
    max_passage_chars: int = MAX_PASSAGE_CHARS,
) -> list[PromptPassage]:
    """Return the passages as the prompt shows them: from the first, as many as fit the LLM's
    context window once its reply is budgeted for.

    A passage is shown with its context when that fits, else alone; the first passage that does
    not fit even alone ends the list. Raises LLMError when not even the first one fits.
    """
    count = _token_counter(llm)
    meta = llm.metadata
    system = render("answer_system.j2")
    budget = meta.context_window - meta.num_output - PROMPT_MARGIN_TOKENS - count(system)
    shown: list[PromptPassage] = []
    for number, passage in enumerate(passages, start=1):
        for with_context in (True, False):
            text = _shown_text(passage, max_passage_chars, with_context)
            candidate = [*shown, _shown(number, passage, text)]
            if count(render("answer.j2", **_prompt_vars(question, candidate))) <= budget:
                shown = candidate
                break
        else:
            break
    if not shown:
        raise LLMError(
            f"the LLM's context window ({meta.context_window} tokens) leaves no room for a "
            f"passage after {meta.num_output} tokens for the reply",
            hint="raise HKQA_LLM_N_CTX, lower HKQA_LLM_MAX_TOKENS or ask a shorter question",
        )
    return shown


def _call(
    llm: LLM,
    messages: list[ChatMessage],
    kwargs: dict[str, Any],
    on_token: Callable[[str], None] | None,
) -> str:
    if on_token is None:
        return llm.chat(messages, **kwargs).message.content or ""
    text = ""
    for response in llm.stream_chat(messages, **kwargs):
        delta = response.delta or ""
        if delta:
            on_token(delta)
        text += delta
    return text


def parse_json_object(text: str) -> dict[str, Any] | None:
    """Return the first JSON object in an LLM's reply (code fences and prose tolerated)."""
    decoder = json.JSONDecoder(strict=False)  # tolerate raw newlines inside strings
    pos = text.find("{")
    while pos != -1:
        try:
            obj, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(obj, dict):
                return obj
        pos = text.find("{", pos + 1)
    return None


def _quotable_sentences(text: str, max_chars: int) -> list[str]:
    """Return the sentences of `text` long enough to be evidence and short enough to fit."""
    seen: dict[str, None] = {}
    for sentence in split_sentences("", text):
        words = sentence.text.split()
        if len(words) >= 2 and MIN_QUOTE_CHARS <= len(sentence.text) <= max_chars:
            seen.setdefault(sentence.text)
    return list(seen)


def _shown_text(passage: Passage, max_chars: int, with_context: bool) -> str:
    """Return the verbatim text shown for a passage: its context when it fits, else the chunk."""
    context = passage.context
    if with_context and context and passage.chunk.text in context and len(context) <= max_chars:
        return context
    text = passage.chunk.text
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > 0 else max_chars]


def _shown(number: int, passage: Passage, text: str) -> PromptPassage:
    # A passage must not be able to close its own <passage> tag and speak outside it.
    text = text.replace("</passage", "<\\/passage")
    return PromptPassage(
        number=number,
        doc_id=passage.chunk.doc_id,
        title=passage.title,
        outlet=passage.outlet,
        date=passage.date,
        text=text,
    )


def _prompt_vars(question: str, shown: Sequence[PromptPassage]) -> dict[str, Any]:
    return {"question": question, "passages": shown}


def _token_counter(llm: LLM) -> Callable[[str], int]:
    if isinstance(llm, LlamaCppLLM):
        return llm.count_tokens
    return lambda text: len(text) // CHARS_PER_TOKEN + 1
