"""A metric sample's key parses back to the name and labels it was built from."""

from common.monitoring.samples import parse_key, sample_key


def test_sample_keys_parse_back_even_with_braces_in_label_values():
    labels = {"route": "/views/{name}", "status": "200"}
    key = sample_key("lambda_http_requests_total", labels)
    assert key == 'lambda_http_requests_total{route="/views/{name}",status="200"}'
    assert parse_key(key) == ("lambda_http_requests_total", labels)
    assert parse_key("lambda_speed_records_total") == ("lambda_speed_records_total", {})
    assert sample_key("lambda_speed_records_total", {}) == "lambda_speed_records_total"


def test_every_sample_a_beacon_writes_parses_back_to_its_name_and_labels():
    cases = [
        ("lambda_archiver_records_total", {"kind": "rejected"}),
        ("lambda_http_request_seconds_bucket", {"le": "+Inf", "route": "/events"}),
        ("lambda_ingest_events_total", {"outcome": "accepted", "b": "x=y", "a": "1,2"}),
    ]
    for name, labels in cases:
        assert parse_key(sample_key(name, labels)) == (name, labels)
