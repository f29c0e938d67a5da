"""One request's walk down a chain: its steps, as ``x-detour-attempts`` and telemetry see them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from daemon.config import Target
from daemon.routing.failures import Failure, FailureKind

# An answer cut at one target goes on at another: (from, to, chars, reason).
OnContinued = Callable[[Target, Target, int, str], None]


class Outcome(StrEnum):
    """How one step of the walk ended (the ``outcome`` label of ``detour_attempts``)."""

    OK = "ok"  # called, and it answers
    FAILED = "failed"  # called, and it failed: ``label`` is its HTTP status or failure class
    SKIPPED = "skipped"  # not called: ``label`` says why (cooldown, no_key, budget, ...)
    WAITED = "waited"  # the walk waited ``waited_s`` for the target to be free
    PANIC = "panic"  # every target was out: the walk calls them anyway


# Steps of the walk that are neither a call nor a skip.
WALK_STEPS = frozenset({Outcome.WAITED, Outcome.PANIC})


@dataclass(slots=True)
class Attempt:
    target: Target
    outcome: Outcome
    label: str = ""  # FAILED: the HTTP status or failure class; SKIPPED: why
    kind: FailureKind | None = None
    latency_ms: float = 0.0
    message: str = ""
    waited_s: float = 0.0  # WAITED: how long

    @property
    def called(self) -> bool:
        """A network call was made (it answered or failed)."""
        return self.outcome is Outcome.OK or self.outcome is Outcome.FAILED

    @property
    def step(self) -> str:
        """What ``x-detour-attempts`` shows for it: ``ok``, ``429``, ``cooldown``, ``waited_1.3s``."""
        match self.outcome:
            case Outcome.FAILED | Outcome.SKIPPED:
                return self.label
            case Outcome.WAITED:
                return f"waited_{self.waited_s:.1f}s"
            case _:
                return self.outcome.value

    def __str__(self) -> str:
        return f"{self.target}:{self.step}"

    def cut(self, failure: Failure, message: str) -> None:
        """It answered, then was cut, and the answer went on elsewhere (``routing.continuation``)."""
        self.outcome, self.label, self.kind, self.message = (
            Outcome.FAILED,
            failure.label,
            failure.kind,
            message,
        )


class Walk(list[Attempt]):
    """One request's walk: its steps in order, each told to ``on_step`` (the relay's
    telemetry for this request) as it is taken. The lease keeps it."""

    def __init__(
        self, on_step: Callable[[Attempt], None] | None = None, on_continued: OnContinued | None = None
    ) -> None:
        super().__init__()
        self.on_step = on_step
        self.on_continued = on_continued  # an answer cut at one target goes on at another

    def has(self, attempt: Attempt) -> bool:
        """This very step is recorded (steps alike in every field are still different steps)."""
        return any(a is attempt for a in self)

    def record(self, attempt: Attempt) -> None:
        self.append(attempt)
        if self.on_step is not None:
            self.on_step(attempt)
