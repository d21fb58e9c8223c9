"""The NATS bus's credentials: from the environment or the owner-only secrets file's ``[nats]`` table, never
shown; a half-given pair, both kinds at once, or a group-readable file is one clear sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config import load_settings
from exchange.secrets import ConfigError, bus_credentials, credentials_from_file

PASSWORD = "CANARY-bus-secret-91"


def _secrets(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_environment_gives_a_user_and_password_or_a_token_and_wins_over_the_file(tmp_path: Path) -> None:
    file = _secrets(tmp_path, '[nats]\nuser = "filed"\npassword = "from-the-file"\n')
    pair = bus_credentials(file, {"FLUXUM_NATS_USER": "desk", "FLUXUM_NATS_PASSWORD": PASSWORD})
    assert pair is not None and pair.connect_options() == {"user": "desk", "password": PASSWORD}
    token = bus_credentials(file, {"FLUXUM_NATS_TOKEN": PASSWORD})
    assert token is not None and token.connect_options() == {"token": PASSWORD}
    filed = bus_credentials(file, {})
    assert filed is not None and filed.connect_options() == {"user": "filed", "password": "from-the-file"}
    assert filed.source == "[nats] in the secrets file"
    for shown in (repr(pair), str(pair), f"{pair}", repr(token)):
        assert PASSWORD not in shown
    assert bus_credentials(tmp_path / "none.toml", {}) is None


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"FLUXUM_NATS_USER": "desk"}, "a NATS user needs its password"),
        ({"FLUXUM_NATS_PASSWORD": PASSWORD}, "a NATS user needs its password"),
        ({"FLUXUM_NATS_TOKEN": PASSWORD, "FLUXUM_NATS_USER": "desk"}, "not both"),
    ],
)
def test_a_half_given_or_doubled_pair_in_the_environment_is_refused(environ: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as refused:
        bus_credentials(None, environ)
    assert PASSWORD not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[nats]\nuser = "desk"\n', "a NATS user needs its password"),
        (f'[nats]\nuser = "desk"\npasword = "{PASSWORD}"\n', "unknown key 'pasword' (did you mean 'password'?)"),
        ("[nats]\n", "must hold user and password, or token"),
        (f'nats = "{PASSWORD}"\n', "must be a table with user and password, or token"),
        (f'[nats]\ntoken = "{PASSWORD}"\nuser = "desk"\n', "not both"),
    ],
)
def test_a_bad_nats_table_is_one_sentence_without_the_secret(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(
        ConfigError, match=f"secrets file .*\\[nats\\]:? .*{says.replace('(', '.').replace(')', '.')}"
    ) as refused:
        bus_credentials(_secrets(tmp_path, text), {})
    assert PASSWORD not in str(refused.value)


def test_a_group_readable_secrets_file_is_refused_for_the_bus_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readable by group or others .* chmod 600"):
        bus_credentials(_secrets(tmp_path, f'[nats]\ntoken = "{PASSWORD}"\n', 0o640), {})


def test_the_api_keys_beside_a_nats_table_still_read_and_only_a_nats_command_reads_the_bus(tmp_path: Path) -> None:
    file = _secrets(tmp_path, f'[testnet]\napi_key = "k" \napi_secret = "s"\n[nats]\ntoken = "{PASSWORD}"\n')
    keys = credentials_from_file(file, "testnet")
    assert keys is not None and keys.api_key == "k"
    assert load_settings(cfg="testnet", secrets_file=file, environ={}).bus_credentials is None
    settings = load_settings(cfg="testnet", secrets_file=file, environ={}, nats=True)
    assert settings.bus_credentials is not None and PASSWORD not in repr(settings)
