"""A metric sample's key: how a beacon names each sample of its process's metrics, written
as Prometheus writes a series, ``name{label="value",...}`` (labels sorted). Built when a
beacon is written and parsed when the status is computed; both here."""


def sample_key(name: str, labels: dict[str, str]) -> str:
    """The key of the sample of metric ``name`` with ``labels``."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


def parse_key(key: str) -> tuple[str, dict[str, str]]:
    """A sample key's metric name and labels (the inverse of :func:`sample_key`)."""
    name, _, rest = key.partition("{")
    labels: dict[str, str] = {}
    for pair in rest.rstrip("}").split('",') if rest else []:
        label, _, value = pair.partition("=")
        labels[label] = value.strip('"')
    return name, labels
