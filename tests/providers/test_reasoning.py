from __future__ import annotations

from daemon.ir import (
    Message,
    Opaque,
    PartStart,
    Request,
    Response,
    SignatureDelta,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from daemon.providers import reasoning


def history(opaque: Opaque) -> Request:
    return Request(
        "m",
        [
            Message("user", [TextPart("hi")]),
            Message("assistant", [ThinkingPart("hmm", opaque=opaque), ToolCallPart("c1", "f", "{}")]),
        ],
    )


def thinking(req: Request) -> ThinkingPart:
    part = req.messages[1].parts[0]
    assert isinstance(part, ThinkingPart)
    return part


def test_a_provider_gets_back_only_its_own_blobs() -> None:
    own = reasoning.for_provider(history(Opaque(None, "sig", "up-a")), "up-a", "anthropic")
    assert thinking(own).opaque == Opaque("anthropic", "sig", "up-a")
    foreign = reasoning.for_provider(history(Opaque("gemini", "sig", "up-g")), "up-a", "anthropic")
    assert thinking(foreign).opaque is None
    # Another provider of the same format did not issue it either.
    twin = reasoning.for_provider(history(Opaque("anthropic", "sig", "up-b")), "up-a", "anthropic")
    assert thinking(twin).opaque is None
    # Raw blobs a client of the same format sent are taken as that format's.
    raw = reasoning.for_provider(history(Opaque("anthropic", "sig")), "up-a", "anthropic")
    assert thinking(raw).opaque == Opaque("anthropic", "sig", "up-a")
    other = reasoning.for_provider(history(Opaque("gemini", "sig")), "up-a", "anthropic")
    assert thinking(other).opaque is None


def test_the_clients_request_is_not_mutated() -> None:
    req = history(Opaque("gemini", "sig", "up-g"))
    reasoning.for_provider(req, "up-a", "anthropic")
    assert thinking(req).opaque == Opaque("gemini", "sig", "up-g")


def test_blobs_crossing_formats_are_wrapped_and_come_back_attributed() -> None:
    resp = Response("r", "m", [ThinkingPart("hmm", opaque=Opaque("gemini", "gsig", "up-g"))])
    reasoning.to_client(resp, "anthropic", "gemini")
    wrapped = resp.parts[0].opaque
    assert wrapped is not None and wrapped.format == "anthropic" and wrapped.blob == "dtr1.up-g.gsig"
    back = reasoning.from_client(history(Opaque("anthropic", wrapped.blob)))  # as the client sends it
    assert thinking(back).opaque == Opaque(None, "gsig", "up-g")
    assert thinking(reasoning.for_provider(back, "up-g", "gemini")).opaque == Opaque("gemini", "gsig", "up-g")


def test_same_format_blobs_reach_the_client_unchanged() -> None:
    resp = Response("r", "m", [ThinkingPart("hmm", opaque=Opaque("anthropic", "asig", "up-a"))])
    reasoning.to_client(resp, "anthropic", "anthropic")
    assert resp.parts[0].opaque == Opaque("anthropic", "asig", "up-a")


def test_stream_events_are_tagged_and_wrapped() -> None:
    ev = reasoning.from_provider_event(SignatureDelta(0, Opaque("gemini", "s")), "up-g")
    assert ev == SignatureDelta(0, Opaque("gemini", "s", "up-g"))
    start = reasoning.to_client_event(
        PartStart(1, ToolCallPart("c", "f", "", opaque=Opaque("gemini", "s", "up-g"))),
        "openai_chat",
        "gemini",
    )
    assert isinstance(start, PartStart) and start.part.opaque == Opaque("openai_chat", "dtr1.up-g.s", "up-g")
