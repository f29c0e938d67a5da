"""The request's figures as the trace measures them."""

from __future__ import annotations

import time

from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import Event
from daemon.telemetry.trace import Telemetry


def test_latency_stops_at_the_last_byte_not_after_the_bookkeeping() -> None:
    bus, seen = Bus(), list[Event]()
    bus.listen(seen.append)
    tel = Telemetry(bus, None)
    trace = tel.begin(session="s", route="r", fmt="openai_chat", requested="m", stream=True, primary=None)
    trace.last_byte()
    assert trace.ended is not None
    sent_ms = (trace.ended - trace.started) * 1000
    time.sleep(0.01)  # settlement and the rest of the bookkeeping, after the client has it all
    tel.finish(trace, [], target=None, status=200)
    (response,) = [e for e in seen if e["type"] == "response"]
    assert response["latency_ms"] == round(sent_ms, 3)
