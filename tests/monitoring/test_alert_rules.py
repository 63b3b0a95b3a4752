"""The Prometheus configuration of the Compose stack and its alert rules, checked and unit
tested with promtool (Debian's `prometheus` package): every alert has series that fire it
and series that do not, in alert_rules_test.yml."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "containers" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_TESTS = Path(__file__).with_name("alert_rules_test.yml")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: it comes with Debian's prometheus package "
            "(apt-get install -y --no-install-recommends prometheus)"
        )
    return path


def run(*command: str) -> None:
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )


def test_rules_are_valid(promtool):
    run(promtool, "check", "rules", str(RULES))


def test_config_is_valid(promtool, tmp_path):
    """The scrape configuration and the rule file it loads (no DNS lookup is made), laid out
    as in the image: with the scrape key's file beside them (its entrypoint writes it)."""
    for path in (CONFIG, RULES):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "scrape-key").write_text("no-key-set\n")
    run(promtool, "check", "config", str(tmp_path / CONFIG.name))


def test_every_alert_fires_and_holds_off_as_its_unit_tests_say(promtool):
    run(promtool, "test", "rules", str(RULE_TESTS))


def test_every_alert_has_unit_tests():
    """A new rule comes with its cases in alert_rules_test.yml: at least one firing."""
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert alerts, f"no alert found in {RULES}"
    assert alerts <= firing, f"alerts no unit test fires: {sorted(alerts - firing)}"
