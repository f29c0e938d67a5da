"""What the chain asks of the budget (``budget.spend``), the layer above routing.

Before a call the chain has the attempt admitted (its worst case reserved, maybe with
``max_tokens`` clamped to what is left); after it, the admission is settled to what
the provider billed (at least the prompt, once the provider took it), or released when
the provider refused the call.
"""

from __future__ import annotations

from typing import Any, Protocol

from daemon.config import Target
from daemon.ir import ApiError, Request, Usage


class OverBudget(Exception):
    """The attempt does not fit the budget; ``error`` is the 402 to give if nothing else fits."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class Admitted(Protocol):
    @property
    def request(self) -> Request:
        """The request as admitted: ``max_tokens`` may be clamped to what the money left pays for."""
        ...


class Purse(Protocol):
    on_exhausted: str  # "block" | "cheapest"

    async def admit(
        self, req: Request, target: Target, session: str, route: str, max_output: int | None, prompt: int
    ) -> Admitted:
        """Reserve the attempt's worst case, or raise ``OverBudget``; may ask the provider
        to count the prompt first."""
        ...

    def settle(
        self, adm: Any, target: Target, usage: Usage, *, complete: bool = True, relayed_chars: int = 0
    ) -> float:
        """Settle to the usage reported (an estimate when cut short); the cost in USD."""
        ...

    def release(self, adm: Any) -> None:
        """The provider refused the call (an HTTP error, no connection): it cost nothing."""
        ...

    def worst_case_usd(self, req: Request, target: Target, max_output: int | None) -> float:
        """What the attempt could cost at most (inf where the price is unknown)."""
        ...
