"""Which chain of models answers a requested model name.

In order: a route's own name; ``provider/model`` written out; a route whose
``match`` globs take the name; the provider whose models carry the name
(``claude-*`` -> anthropic, ...) followed by the ``default`` route; the
``default`` route alone.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from daemon.config import Config, RouteSettings, Target
from daemon.ir import ApiError
from daemon.providers.profiles import kind_of_model


@dataclass(slots=True, frozen=True, init=False)
class Resolved:
    """The chain that answers a request, and the settings of the route it came from
    (``[routing]``'s for a chain made up for a name no route has)."""

    route: str
    chain: tuple[Target, ...]
    settings: RouteSettings

    def __init__(self, route: str, chain: tuple[Target, ...], settings: RouteSettings | None = None) -> None:
        object.__setattr__(self, "route", route)
        object.__setattr__(self, "chain", chain)
        object.__setattr__(self, "settings", settings or RouteSettings(name=route, chain=chain))


class Routes:
    def __init__(self, config: Config) -> None:
        # A chain made up for a name no route has takes [routing]'s settings.
        self._unrouted = config.route("", ())
        self._by_name = {r.name: r for r in config.routes}
        self._routes = config.routes
        self._providers = config.providers
        self._default = self._by_name.get("default")
        self._first_of_kind: dict[str, str] = {}
        for pid, p in config.providers.items():
            self._first_of_kind.setdefault(p.kind, pid)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self._routes]

    def resolve(self, requested: str) -> Resolved:
        # Ollama-style clients name a model with its tag: "coder:latest" is the route "coder".
        route = self._by_name.get(requested) or self._by_name.get(requested.removesuffix(":latest"))
        if route is not None:
            return Resolved(route.name, route.chain, route)
        pid, sep, model = requested.partition("/")
        if sep and pid in self._providers and model:
            return self._then_default(requested, Target(pid, model))
        for route in self._routes:
            if any(fnmatch.fnmatchcase(requested, pat) for pat in route.match):
                return Resolved(route.name, route.chain, route)
        kind = kind_of_model(requested)
        if kind is not None and kind in self._first_of_kind:
            return self._then_default(requested, Target(self._first_of_kind[kind], requested))
        if self._default is not None:
            return Resolved(self._default.name, self._default.chain, self._default)
        raise ApiError(
            404,
            "not_found",
            f"model {requested!r} is not a route name, matches no route's globs, and no "
            f"[[routes]] entry named 'default' is configured; routes: {', '.join(self.names) or 'none'}",
        )

    def _then_default(self, requested: str, first: Target) -> Resolved:
        rest = tuple(t for t in (self._default.chain if self._default else ()) if t != first)
        return Resolved(requested, (first, *rest), self._unrouted)
