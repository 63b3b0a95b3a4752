"""The effective settings every service logs when it starts."""

from common.runtime.settings import CommonSettings


def test_describe_lists_every_setting_by_its_variable_sorted(monkeypatch):
    monkeypatch.setenv("LAMBDA_TOPIC", "clicks")
    text = CommonSettings().describe()
    pairs = text.split(" ")
    assert "LAMBDA_TOPIC=clicks" in pairs
    assert "LAMBDA_PARTITIONS=4" in pairs
    assert pairs == sorted(pairs)
    assert len(pairs) == len(CommonSettings.model_fields)
