"""hkqa: questions and summaries over news on tech firms and Hong Kong's national security law,
with every quote verified verbatim against its source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Hkqa", "Settings", "__version__"]

if TYPE_CHECKING:
    from hkqa.api import Hkqa
    from hkqa.config import Settings


def __getattr__(name: str) -> Any:
    # Lazy, so `import hkqa` costs nothing until a part is used.
    if name == "Hkqa":
        from hkqa.api import Hkqa

        return Hkqa
    if name == "Settings":
        from hkqa.config import Settings

        return Settings
    raise AttributeError(f"module 'hkqa' has no attribute {name!r}")
