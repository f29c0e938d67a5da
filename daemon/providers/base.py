"""What the router needs of a provider: answer an IR request as a stream.

Every call is a stream, whatever the client asked for (``routing.chain``): the
first-content and idle limits then mean the same for every answer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from daemon.config import ProviderConfig
from daemon.formats.profile import Profile
from daemon.ir import Request, StreamEvent
from daemon.providers.profiles import lookup


class Provider(ABC):
    """One configured provider (``[providers.ID]``): an endpoint, a key, a wire format."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._profiles: dict[str, Profile] = {}

    def profile(self, model: str) -> Profile:
        """What ``model`` takes here, looked up once: a target's kind and config never change."""
        known = self._profiles.get(model)
        if known is None:
            override = self.config.models.get(model)
            known = self._profiles[model] = lookup(self.kind, model, override, self.config.base_url)
        return known

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def format_name(self) -> str:
        """The wire format it speaks; reasoning blobs are portable only within one."""
        return self.kind

    @property
    @abstractmethod
    def usable(self) -> bool:
        """Whether it can be called at all (it has a key, or needs none)."""

    @abstractmethod
    def stream(self, req: Request, model: str) -> AsyncIterator[StreamEvent]:
        """IR events in the order ``daemon.ir.stream`` documents; failures raise ``ApiError``."""

    async def count_tokens(self, req: Request, model: str) -> int | None:
        """What the provider will bill for ``req``'s prompt, if it can say before the call."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} kind={self.kind}>"
