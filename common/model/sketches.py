"""The Apache DataSketches a metric state keeps, one family per sketch part: how a sketch starts,
takes a value, is stored (bytes), and how stored sketches union. The speed layer folds values
into them, Spark builds the same bytes (``hll_sketch_agg``, ``kll_sketch_agg_double``), the
snapshot compaction and serving union them, and serving answers from the union."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datasketches import hll_sketch, hll_union, kll_doubles_sketch, tgt_hll_type

HLL_LG_K = 14
"""log2 of the HLL sketch's buckets: a relative standard error of about 0.8%."""

KLL_K = 200
"""The KLL sketch's default k: a normalized rank error of about 1.65% (one sketch or a
union), a few KiB per group at most (``docs/performance.md``)."""
KLL_K_RANGE = (8, 65_535)


@dataclass(frozen=True)
class Family:
    """One kind of sketch. ``new`` takes the metric's ``k`` (None: the family's default)."""

    new: Callable[[int | None], Any]
    update: Callable[[Any, Any], Any]
    serialize: Callable[[Any], bytes]
    union: Callable[[list[bytes], int | None], bytes]


def _hll_new(k: int | None) -> hll_sketch:
    return hll_sketch(HLL_LG_K, tgt_hll_type.HLL_8)


def _update(sketch: Any, value: Any) -> Any:
    if value is not None:
        sketch.update(value)
    return sketch


def _hll_unioned(blobs: list[bytes], union: hll_union | None = None) -> hll_union:
    """``union`` (reset, or a new one) holding the union of stored HLL sketches."""
    if union is None:
        union = hll_union(HLL_LG_K)
    union.reset()
    for blob in blobs:
        union.update(hll_sketch.deserialize(blob))
    return union


def _hll_union(blobs: list[bytes], k: int | None) -> bytes:
    return bytes(_hll_unioned(blobs).get_result().serialize_compact())


def _kll_new(k: int | None) -> kll_doubles_sketch:
    return kll_doubles_sketch(KLL_K if k is None else k)


def kll_union(blobs: list[bytes], k: int | None = None) -> kll_doubles_sketch:
    """The KLL sketches merged (the merge keeps the smallest k of its inputs)."""
    merged = _kll_new(k)
    for blob in blobs:
        merged.merge(kll_doubles_sketch.deserialize(blob))
    return merged


HLL = Family(_hll_new, _update, lambda s: bytes(s.serialize_compact()), _hll_union)
KLL = Family(
    _kll_new,
    _update,
    lambda s: bytes(s.serialize()),
    lambda blobs, k: bytes(kll_union(blobs, k).serialize()),
)


def union_bytes(family: Family, blobs: list[bytes] | None, k: int | None) -> bytes | None:
    """The union of stored sketches, stored (None for none; one is itself)."""
    if not blobs:
        return None
    if len(blobs) == 1:
        return blobs[0]
    return family.union(blobs, k)


def distinct_estimate(blobs: list[bytes] | None, union: hll_union | None = None) -> int:
    """The distinct count of the union of stored HLL sketches (``union`` is reused)."""
    if not blobs:
        return 0
    if len(blobs) == 1:
        return round(float(hll_sketch.deserialize(blobs[0]).get_estimate()))
    return round(float(_hll_unioned(blobs, union).get_estimate()))


def quantile_name(fraction: float) -> str:
    """A quantile's name in an answer: ``p`` and the percentage (0.5: ``p50``, 0.999:
    ``p99.9``), written from the fraction's shortest decimal form, so no two differ by
    float noise alone."""
    percent = Decimal(repr(fraction)).scaleb(2).normalize()
    return f"p{percent:f}"


def quantiles_of(
    blobs: list[bytes] | None, fractions: tuple[float, ...], k: int | None
) -> dict[str, float] | None:
    """The quantiles of the union of stored KLL sketches (None: the row saw no value)."""
    if not blobs:
        return None
    sketch = kll_union(blobs, k)
    if sketch.is_empty():
        return None
    # Inclusive: the smallest value at least that fraction of the values is at most (nearest
    # rank, as quantile_disc answers).
    return {quantile_name(f): float(sketch.get_quantile(f, True)) for f in fractions}
