from __future__ import annotations

from daemon import keys
from daemon.config import ProviderConfig


def test_secret_repr_hides_the_key() -> None:
    s = keys.Secret("sk-very-secret-123")
    assert "sk-very" not in repr(s) and "sk-very" not in str(s) and "sk-very" not in f"{s}"


def test_env_key_wins_and_keyring_roundtrip(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    p = ProviderConfig(id="acme", kind="openai", base_url="x", api_key_env="ACME_KEY")
    keys.set_key("acme", "from-keyring-123")
    assert keys.get_key(p) == keys.Secret("from-keyring-123")
    monkeypatch.setenv("ACME_KEY", "from-env-456")
    assert keys.get_key(p) == keys.Secret("from-env-456")
    assert keys.delete_key("acme")
    assert not keys.delete_key("acme")


def test_client_token_is_stable() -> None:
    assert keys.client_token() == keys.client_token()
    assert keys.client_token().startswith("dtr-")
