"""Network probes of a run start together, on one event loop, and checks await their results.

A preflight talks to Binance and Telegram. Run check after check, every round trip adds up;
started at once, the network part of a run costs about one round trip (plus whatever a probe
needs in sequence, e.g. exchangeInfo before order/test). Each probe module declares its probes
as :class:`ProbeDef` entries naming the checks that read them, so only probes of selected checks
run (a Telegram message is sent only when a check that needs it is selected).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from ..settings import Settings


class ProbeTimeout(Exception):
    """The probe did not finish within its own timeout."""


@dataclass(frozen=True, slots=True)
class ProbeDef:
    name: str
    #: Check ids that read this probe: it runs only when one of them is selected.
    checks: frozenset[str]
    run: Callable[[Settings], Awaitable[Any]]
    timeout_s: float


class ProbeSet:
    """The probes of one run, started together; :meth:`result` awaits one of them."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._timeouts: dict[str, float] = {}

    def start(self, definitions: Iterable[ProbeDef], settings: Settings, selected: Collection[str]) -> None:
        """Start, at once, every probe that a selected check reads."""
        for definition in definitions:
            if definition.checks & set(selected) and definition.name not in self._tasks:
                self._timeouts[definition.name] = definition.timeout_s
                self._tasks[definition.name] = asyncio.ensure_future(
                    asyncio.wait_for(definition.run(settings), definition.timeout_s)
                )

    @property
    def started(self) -> list[str]:
        return list(self._tasks)

    async def result(self, name: str) -> Any:
        """The probe's result; its exception if it failed; :class:`ProbeTimeout` if it hung."""
        task = self._tasks.get(name)
        if task is None:
            raise KeyError(f"probe {name!r} was not started: no selected check declares it")
        try:
            return await asyncio.shield(task)
        except TimeoutError:
            raise ProbeTimeout(f"no answer within {self._timeouts[name]:g} s") from None

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
