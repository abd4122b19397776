"""Which event loop the long-running commands (``run``, ``demo``, ``simulate``) run on.

uvloop by default: it is a dependency on Linux with CPython (``pyproject.toml``), and the same
FastAGI script costs well under half the CPU on it that it costs on asyncio's own loop
(``bench/agi_bench.py``, the ``bare+uvloop`` rows). ``--loop asyncio`` is the way back, for an
admin who suspects the loop or a platform without uvloop. Every other command, and the tests,
stay on asyncio's loop: only a process that serves calls gains from a faster one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import EventLoopError

T = TypeVar("T")

#: the ``--loop`` choices: ``auto`` = uvloop when it can be imported, else asyncio's loop
CHOICES = ("auto", "uvloop", "asyncio")



def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``choice`` (one of :data:`CHOICES`); None means asyncio's default loop."""
    if choice not in CHOICES:
        raise EventLoopError(f"event loop {choice!r}: choose one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise EventLoopError("event loop 'uvloop' asked for, but uvloop is not installed "
                                 "(pip install uvloop, or --loop asyncio)") from None
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names (``EventLoopError`` before anything runs)."""
    try:
        factory = loop_factory(choice)
    except EventLoopError:
        main.close()  # never awaited: say nothing about it
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def describe(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """``uvloop 0.23.0`` or ``asyncio``: the loop that runs (the running one by default), for the
    start-up log line."""
    loop = loop or asyncio.get_running_loop()
    module = type(loop).__module__.partition(".")[0]
    if module == "uvloop":
        import uvloop

        return f"uvloop {uvloop.__version__}"
    return "asyncio"
