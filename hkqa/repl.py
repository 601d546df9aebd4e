"""`hkqa repl`: a question prompt with history and line editing.

The prompt appears at once; the embedding model and the chunk table load in a background
thread meanwhile, so the first answer is the only one that may wait for them. Ctrl-C
cancels the answer being worked on, Ctrl-D (or :quit) leaves.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from hkqa.api import Hkqa
    from hkqa.types import Answer

PROMPT = "hkqa> "
HELP = """\
Type a question, or a command:
  :k N               passages per answer (now {k})
  :firm NAME | off   only passages naming a firm (now {firm})
  :since DATE | off  only documents dated on/after YYYY-MM-DD (now {since})
  :until DATE | off  only documents dated on/before YYYY-MM-DD (now {until})
  :mode auto|extractive|llm  answering mode (now {mode})
  :sources           the sources of the last answer
  :json              the last answer as JSON
  :help              this text
  :quit              leave (or Ctrl-D); Ctrl-C cancels an answer"""
MODES = ("auto", "extractive", "llm")


class ReplState:
    """What the commands set: retrieval depth, filters, mode, and the last answer."""

    def __init__(self, k: int, mode: str) -> None:
        self.k = k
        self.mode = mode
        self.firm: str | None = None
        self.since: str | None = None
        self.until: str | None = None
        self.last: Answer | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "firm": self.firm or "off",
            "since": self.since or "off",
            "until": self.until or "off",
            "mode": self.mode,
        }


def warm_up(h: Hkqa) -> threading.Thread:
    """Start loading the embedder and the chunk table in the background; return the thread."""

    def load() -> None:
        try:
            h.table()
            h.embedder.embed_query("warm up")
        except Exception:  # reported when the first question needs the part
            pass

    thread = threading.Thread(target=load, name="hkqa-warm-up", daemon=True)
    thread.start()
    return thread


def _command(line: str, state: ReplState, h: Hkqa, out: TextIO) -> bool:
    """Run a ':' command; return False when the user asked to quit."""
    from hkqa.cli import format_answer

    name, _, arg = line[1:].strip().partition(" ")
    arg = arg.strip()
    if name in ("q", "quit", "exit"):
        return False
    if name in ("h", "help", "?"):
        print(HELP.format(**state.describe()), file=out)
    elif name == "k":
        if not arg.isdigit() or not 1 <= int(arg) <= 100:
            print("usage: :k N (a whole number from 1 to 100)", file=out)
        else:
            state.k = int(arg)
            print(f"k = {state.k}", file=out)
    elif name in ("firm", "since", "until"):
        if not arg:
            print(f"usage: :{name} VALUE | off", file=out)
            return True
        value = None if arg.lower() == "off" else arg
        if name == "firm" and value is not None:
            firm = h.lexicon.resolve(value)
            if firm is None:
                print(f"unknown firm {value!r}", file=out)
                return True
            value = firm.name
        if name in ("since", "until") and value is not None:
            from hkqa.errors import ConfigError
            from hkqa.retrieve import epoch_day

            try:
                epoch_day(value, option=name)
            except ConfigError as err:
                print(err, file=out)
                return True
        setattr(state, name, value)
        print(f"{name} = {value or 'off'}", file=out)
    elif name == "mode":
        if arg not in MODES:
            print(f"usage: :mode {'|'.join(MODES)}", file=out)
        else:
            state.mode = arg
            print(f"mode = {arg}", file=out)
    elif name == "sources":
        if state.last is None:
            print("no answer yet", file=out)
        else:
            print(format_answer(state.last).split("\n\n", 1)[-1], file=out)
    elif name == "json":
        print(
            "no answer yet" if state.last is None else state.last.model_dump_json(indent=2),
            file=out,
        )
    else:
        print(f"unknown command :{name} (try :help)", file=out)
    return True


def _ask(h: Hkqa, question: str, state: ReplState, out: TextIO) -> None:
    from hkqa.cli import format_answer
    from hkqa.errors import HkqaError

    tokens = 0

    def progress(_: str) -> None:
        # The draft is not shown: its quotes are not verified yet. Show that work goes on.
        nonlocal tokens
        tokens += 1
        if tokens % 16 == 0:
            print(f"\rdrafting… {tokens} tokens", end="", file=out, flush=True)

    try:
        answer = h.ask(
            question,
            k=state.k,
            firm=state.firm,
            since=state.since,
            until=state.until,
            mode=state.mode,  # type: ignore[arg-type]
            on_token=progress,
        )
    except KeyboardInterrupt:
        print("\ncancelled", file=out)
        return
    except HkqaError as err:
        print(f"error: {err}", file=out)
        return
    if tokens >= 16:
        print("\r" + " " * 40 + "\r", end="", file=out)
    state.last = answer
    print(format_answer(answer), file=out)


def prompt_reader(h: Hkqa) -> Callable[[str], str]:
    """Return a prompt_toolkit reader with history kept in the index directory."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    history: Any = InMemoryHistory()
    try:
        index_dir = Path(h.settings.index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(index_dir / ".hkqa-history"))
    except OSError:
        pass
    session: PromptSession[str] = PromptSession(history=history)
    return lambda prompt: session.prompt(prompt)


def run_repl(
    h: Hkqa,
    *,
    read_line: Callable[[str], str] | None = None,
    out: TextIO | None = None,
    warm: bool = True,
) -> int:
    """Run the question prompt until :quit or end of input; return the exit status."""
    out = out or sys.stdout
    read = read_line or prompt_reader(h)
    state = ReplState(h.settings.k, h.settings.mode)
    if warm:
        warm_up(h)
    print(
        "hkqa — ask about tech firms and Hong Kong's national security law. :help for commands.",
        file=out,
    )
    while True:
        try:
            line = read(PROMPT).strip()
        except EOFError:
            print("bye", file=out)
            return 0
        except KeyboardInterrupt:
            continue
        if not line:
            continue
        if line.startswith(":"):
            if not _command(line, state, h, out):
                print("bye", file=out)
                return 0
            continue
        _ask(h, line, state, out)
