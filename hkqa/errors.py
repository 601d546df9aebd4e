"""The errors hkqa raises on purpose, each with a message a user can act on."""

from __future__ import annotations


class HkqaError(Exception):
    """Base of every expected failure; the CLI prints `str(err)` and exits non-zero."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message


class ConfigError(HkqaError):
    """A setting or option has a value hkqa cannot use."""


class IngestError(HkqaError):
    """A file could not be read as a document (the message names the file and why)."""


class NothingToIndexError(HkqaError):
    """The paths given held no document hkqa could index."""


class IndexNotFoundError(HkqaError):
    """There is no index where one was expected."""


class IndexCorruptError(HkqaError):
    """The index directory or collection is damaged or belongs to something else."""


class IndexLockedError(HkqaError):
    """Another process is writing to the same index."""


class StoreConnectionError(HkqaError):
    """The Chroma server could not be reached or stopped answering."""


class EmbeddingModelError(HkqaError):
    """The embedding model could not be loaded."""


class QuestionError(HkqaError):
    """The question cannot be answered as asked (empty, too long, ...)."""


class LLMError(HkqaError):
    """The configured LLM could not be loaded or failed to answer."""


class GoldFileError(HkqaError):
    """A gold Q&A file has lines that do not validate (each named by line number)."""


class DocumentNotFoundError(HkqaError):
    """A doc_id was asked for that the index does not hold."""
