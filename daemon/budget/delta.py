"""What a failover cost: the fallback's price for the answer it gave, minus what the
primary would have charged for the same answer.

"The same answer" includes the primary's prompt cache. An agent's conversation
grows turn by turn, so the primary holds most of the prompt cached from the
last turn it served; a fallback starts cold and bills the whole prompt at the
full input price. Pricing the primary as if it had read from cache the prefix
it last cached (and no more than the prompt) is what makes the delta honest:
a failover from a warm Claude session to a cold fallback is rarely free.
"""

from __future__ import annotations

from collections import OrderedDict

from daemon.budget.prices import Prices
from daemon.config import Target
from daemon.ir import Usage

MAX_SESSIONS = 1024


class CacheMemory:
    """Per session and target: how many prompt tokens that target last had cached."""

    def __init__(self, max_entries: int = MAX_SESSIONS * 4) -> None:
        self._cached: OrderedDict[tuple[str, Target], int] = OrderedDict()
        self._max = max_entries

    def saw(self, session: str, target: Target, usage: Usage) -> None:
        # What was read plus what was written is the prefix the next turn can read.
        key = (session, target)
        self._cached[key] = usage.cache_read_tokens + usage.cache_write_tokens
        self._cached.move_to_end(key)
        while len(self._cached) > self._max:
            self._cached.popitem(last=False)

    def cached(self, session: str, target: Target) -> int:
        return self._cached.get((session, target), 0)


def as_primary(usage: Usage, cached_prefix: int) -> Usage:
    """The usage the primary would have reported for the exchange the fallback served."""
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=min(cached_prefix, usage.input_tokens),
        reasoning_tokens=usage.reasoning_tokens,
    )


def failover_delta(
    prices: Prices, served: Target, usage: Usage, primary: Target, cached_prefix: int
) -> float | None:
    """Served cost minus the primary's for the same exchange; None where a price is unknown."""
    cost = prices.usd(served, usage)
    would_have = prices.usd(primary, as_primary(usage, cached_prefix))
    if cost is None or would_have is None:
        return None
    return round(cost - would_have, 9)
