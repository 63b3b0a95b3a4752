"""Batch versions written for tests: their version.json (views are not written)."""

import orjson

from common.storage.lake import BatchVersion, Lake, write_atomic


def publish_version(lake: Lake, version: BatchVersion, newest: bool = True) -> None:
    """Write ``version``'s record and, when ``newest``, make it the manifest."""
    directory = lake.versions / version.version
    for view in version.views:
        (directory / view).mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "version.json", orjson.dumps(version.to_json()))
    if newest:
        lake.publish_manifest(version)
