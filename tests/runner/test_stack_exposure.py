"""`make up` (containers/stack.sh) refuses to publish the APIs beyond loopback with no key set,
naming the variables, before it touches Docker; on loopback, or with a key, it goes on."""

import os
import subprocess

import pytest

from runner.launcher import ROOT

NO_KEYS = {"LAMBDA_INGEST_KEYS": "", "LAMBDA_READ_KEYS": "", "LAMBDA_ADMIN_KEYS": ""}


def refusal(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """stack.sh's check alone (its functions sourced, nothing else run)."""
    script = (
        'die() { echo "error: $*" >&2; exit 1; }; '
        "eval \"$(sed -n '/^setting()/,/^}/p;/^refuse_unprotected_bind()/,/^}/p' "
        'containers/stack.sh)"; refuse_unprotected_bind'
    )
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_beyond_loopback_without_keys_it_refuses_and_names_the_variables(host):
    result = refusal({**NO_KEYS, "LAMBDA_BIND_HOST": host})
    assert result.returncode == 1
    for variable in ("LAMBDA_INGEST_KEYS", "LAMBDA_READ_KEYS", "LAMBDA_ADMIN_KEYS"):
        assert variable in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {**NO_KEYS, "LAMBDA_BIND_HOST": "127.0.0.1"},
        {**NO_KEYS, "LAMBDA_BIND_HOST": "localhost"},
        {**NO_KEYS, "LAMBDA_BIND_HOST": "0.0.0.0", "LAMBDA_ADMIN_KEYS": "k"},
    ],
)
def test_on_loopback_or_with_a_key_it_goes_on(env):
    assert refusal(env).returncode == 0
