"""One settings object for hkqa: every option and every `HKQA_` environment variable lands here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_EMBED_MODEL = "all-MiniLM-L6-v2"
BUNDLED_LLM = "bundled"

Mode = Literal["auto", "extractive", "llm"]
LLMBackend = Literal["llama-cpp", "openai"]

PRESETS: dict[str, dict[str, object]] = {
    # Few passages, quick answers at the prompt.
    "fast": {"k": 3, "candidates": 30},
    # The defaults below.
    "default": {},
    # More candidates and longer answers for reports.
    "thorough": {"k": 8, "candidates": 100, "max_answer_sentences": 6},
}


class Settings(BaseSettings):
    """Where hkqa keeps its state and how it retrieves and answers; read from `HKQA_*`."""

    model_config = SettingsConfigDict(env_prefix="HKQA_", extra="forbid", validate_default=True)

    index_dir: Path = Field(
        default=Path("index"),
        description="Directory of the embedded Chroma index and every cache hkqa writes.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a running `chroma run` server; when set, the index lives there.",
    )
    collection: str = Field(default="hkqa", description="Name prefix of the Chroma collections.")
    embed_model: str = Field(
        default=BUNDLED_EMBED_MODEL,
        description="sentence-transformers model name or path; the default ships with hkqa.",
    )
    embed_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Chunks embedded per batch when indexing (default: the encoder's fastest, "
        "8 for the numpy encoder, 32 for sentence-transformers).",
    )
    firms_file: Path | None = Field(
        default=None,
        description="JSON file of extra firms (name, aliases, owner) merged into the lexicon.",
    )
    max_file_bytes: int = Field(
        default=20_000_000, ge=1, description="Files larger than this are skipped, with a reason."
    )
    k: int = Field(default=5, ge=1, le=100, description="Passages returned by search and ask.")
    candidates: int = Field(
        default=50, ge=1, description="Candidates each retriever contributes before fusion."
    )
    max_answer_sentences: int = Field(
        default=4, ge=1, description="Sentences quoted in an extractive answer (lists excepted)."
    )
    mode: Mode = Field(default="auto", description="Answering mode: auto, extractive or llm.")
    llm_backend: LLMBackend | None = Field(
        default=None, description="Which LLM answers in llm mode; None means none configured."
    )
    llm_model_path: str | None = Field(
        default=None,
        description="GGUF path for llama-cpp, or 'bundled' for the tiny bundled model.",
    )
    llm_n_ctx: int = Field(default=4096, ge=512, description="Context window for llama-cpp.")
    llm_max_tokens: int = Field(default=512, ge=16, description="Most tokens an LLM may write.")
    llm_temperature: float = Field(default=0.0, ge=0.0, description="LLM sampling temperature.")
    openai_base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible endpoint (Ollama, vLLM, ...)."
    )
    openai_model: str | None = Field(default=None, description="Model name at that endpoint.")
    openai_api_key: str | None = Field(default=None, description="API key for that endpoint.")
    request_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for the Chroma server before giving up."
    )
    lock_timeout: float = Field(
        default=10.0, ge=0, description="Seconds an indexer waits for another one to finish."
    )

    @property
    def llm_configured(self) -> bool:
        """True when the user named an LLM, so `auto` mode should use it."""
        return bool(self.llm_backend or self.llm_model_path or self.openai_base_url)

    @classmethod
    def preset(cls, name: str, **overrides: object) -> Settings:
        """Settings for a named preset (fast, default, thorough), then `overrides`."""
        from hkqa.errors import ConfigError

        if name not in PRESETS:
            raise ConfigError(
                f"unknown preset {name!r}", hint=f"choose one of {', '.join(PRESETS)}"
            )
        return cls(**{**PRESETS[name], **overrides})  # type: ignore[arg-type]
