"""The one redaction step: every form of every secret, anywhere in an error."""

from __future__ import annotations

import aiohttp
import pytest

from daemon.config import ProviderConfig
from daemon.ir import ApiError, Message, Request, TextPart
from daemon.keys import Secret
from daemon.providers.http import HttpProvider
from daemon.redaction import Redactor
from tests.fakes.base import Answer, Fault, StreamFault
from tests.fakes.openai_chat import FakeOpenAI, frame

KEY = "sk-proj-AbCdEfGh1234567890xyzWXYZ"
TOKEN = "dtr-Zq9-local-token-abcdefgh"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"bad key {KEY} given", "bad key *** given"),
        (f"Incorrect API key provided: sk-proj-{'*' * 20}WXYZ.", "Incorrect API key provided: ***."),
        ("your key sk-...WXYZ is wrong", "your key *** is wrong"),
        ("key sk-proj…WXYZ", "key ***"),
        (f"a piece {KEY[5:15]} from the middle", "a piece *** from the middle"),
        (f"cut at the end: {KEY[:11]}", "cut at the end: ***"),
        (f"cut at the start: {KEY[-9:]}!", "cut at the start: ***!"),
        (f"x{KEY[10:]}/{KEY[:9]}", "x***/***"),
        (f"the token {TOKEN} too", "the token *** too"),
        ("sk- and WXYZ apart are ordinary words", "sk- and WXYZ apart are ordinary words"),
        ("nothing secret in here at all, provider", "nothing secret in here at all, provider"),
    ],
)
def test_every_form_of_a_secret_is_replaced(text: str, expected: str) -> None:
    assert Redactor([KEY, TOKEN, "short"]).text(text) == expected


def test_short_secrets_and_no_secrets_leave_text_alone() -> None:
    assert Redactor(["short"]).text("short stays") == "short stays"
    assert Redactor([]).text(f"{KEY}") == KEY


def test_every_string_of_an_error_keys_included() -> None:
    r = Redactor([KEY])
    nested: list[object] = [KEY]
    for _ in range(100):  # deeper than any error worth reading
        nested = [nested]
    err = ApiError(
        400,
        "invalid_request",
        f"openai: {KEY}",
        details={"param": KEY, KEY: [{"deep": f"x {KEY}"}, 3, None], "nested": nested},
        upstream={"error": {"message": KEY}},
    )
    err.headers["x-detour-attempts"] = KEY
    assert r.error(err) is err
    assert err.message == "openai: ***" and err.args == ("openai: ***",) and str(err) == "openai: ***"
    assert err.details == {
        "param": "***",
        "***": [{"deep": "x ***"}, 3, None],
        "nested": err.details["nested"],
    }
    assert KEY[:8] not in repr(err.details) and KEY[:8] not in repr(err.upstream)
    assert err.headers == {"x-detour-attempts": "***"}


async def failure(fake: FakeOpenAI) -> ApiError:
    """The error a provider holding KEY raises for the fake's next answer."""
    config = ProviderConfig(id="openai", kind="openai", base_url=fake.url + "/v1")
    req = Request(model="gpt-4.1", messages=[Message("user", [TextPart("hi")])], stream=True)
    try:
        async with aiohttp.ClientSession() as session:
            provider = HttpProvider(config, Secret(KEY), session, Redactor([KEY]))
            with pytest.raises(ApiError) as caught:
                async for _ in provider.stream(req, "gpt-4.1"):
                    pass
    finally:
        await fake.close()
    return caught.value


async def test_an_in_band_error_named_after_the_provider_is_redacted_too() -> None:
    """It used to skip redaction: ``_tag`` took a message starting with the provider id as its own."""
    fake = await FakeOpenAI(key=KEY).start()
    fake.inband_error = lambda status: frame(  # type: ignore[method-assign]
        {"error": {"message": f"openai: {KEY} overloaded", "type": "server_error", "param": KEY, "code": KEY}}
    )
    fake.script.append(Answer(text="hello there", fault=StreamFault(after_frames=2, action="error")))
    err = await failure(fake)
    assert err.message == "openai: *** overloaded"
    assert (
        KEY[:8] not in repr(err.details)
        and KEY[:8] not in str(err.args)
        and KEY[:8] not in repr(err.upstream)
    )


async def test_a_huge_plain_text_error_is_read_only_as_far_as_shown() -> None:
    """A proxy's error page of megabytes: its head is read, redacted, then cut (the key straddles the cut)."""
    fake = await FakeOpenAI(key=KEY).start()
    fake.script.append(Fault(502, text="x" * 496 + KEY + "y" * (8 << 20)))
    assert (await failure(fake)).message == "openai: " + "x" * 496 + "***" + "y"
