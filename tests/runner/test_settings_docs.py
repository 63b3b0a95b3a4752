"""The table of docs/configuration.md and .env.example are what the settings classes say,
and every variable Compose passes with a default is documented with that default."""

import re

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings

from runner import settings_docs
from runner.settings_docs import ROOT, configuration_table, env_example, settings, with_table

# Set by containers/stack.sh for the build and the stack's own wiring, not by users.
INTERNAL = {"LAMBDA_BASE_IMAGE", "LAMBDA_WHEELHOUSE", "LAMBDA_STACK_KAFKA_BOOTSTRAP"}
INTERNAL |= {"LAMBDA_STACK_SPARK_MASTER"}


def test_the_configuration_page_and_env_example_are_up_to_date():
    assert settings_docs.main(["--check"]) == 0, "run make docs"


def test_every_compose_default_is_the_documented_one():
    documented = {row.name: row.compose_default or row.default for row in settings()}
    compose = "".join(path.read_text() for path in [ROOT / "docker-compose.yml"])
    compose += "".join(path.read_text() for path in sorted((ROOT / "compose").glob("*.yml")))
    passed = set(re.findall(r"\$\{(LAMBDA_[A-Z_]+):-([^}]*)\}", compose))
    assert passed, "no defaults found in the Compose files"
    for name, default in sorted(passed):
        if name in INTERNAL:
            continue
        assert name in documented, f"{name} is passed by Compose but documented nowhere"
        assert default.removeprefix("./") == documented[name].removeprefix("./"), name


def test_a_field_without_a_description_is_refused():
    class Bare(BaseSettings):
        described: int = Field(default=1, description="has one")
        bare: int = 2

    with pytest.raises(ValueError, match="LAMBDA_BARE"):
        settings([("x", Bare)])


def test_a_field_several_classes_declare_is_one_row_with_each_reader():
    rows = {row.name: row for row in settings()}
    assert rows["LAMBDA_INGEST_PORT"].readers == ["make run", "ingest", "make demo"]
    assert rows["LAMBDA_SPARK_DRIVER_MEMORY"].compose_default == "1g"
    table = configuration_table(list(rows.values()))
    assert "| `LAMBDA_SPARK_DRIVER_MEMORY` | `2g` (Compose: `1g`) |" in table
    assert "# LAMBDA_SPARK_DRIVER_MEMORY=1g" in env_example(list(rows.values()))


def test_the_table_replaces_only_the_text_between_the_markers():
    text = f"head\n{settings_docs.BEGIN}\nold\n{settings_docs.END}\ntail\n"
    assert (
        with_table(text, "new") == f"head\n{settings_docs.BEGIN}\nnew\n{settings_docs.END}\ntail\n"
    )
    with pytest.raises(ValueError, match="markers"):
        with_table("no markers", "new")
