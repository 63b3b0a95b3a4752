"""The one way to read a file of the lake: every "cannot read" becomes ``DamagedFile``.

A file that is missing is not damaged (readers race with collection and renames), and
neither is a failing system call (too many open files, permissions): those keep their own
``OSError``. Everything else that stops a read (truncation, an empty file, bytes that are
not Parquet or JSON, JSON of the wrong shape) is ``DamagedFile(path, reason)``, and the owner
of each kind of file decides once what it does about it (see ARCHITECTURE.md, "Damaged
files").
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import TypeAdapter, ValidationError

from common.errors import DamagedFile

T = TypeVar("T")
DECODE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError)
"""What decoding a file's content raises when it has the wrong shape (pydantic's
``ValidationError``, ``JSONDecodeError`` and ``ArrowInvalid`` are ``ValueError`` too)."""


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc``, raised while reading a file that exists, says the file is damaged
    (not a missing file, not a failing system call)."""
    if isinstance(exc, (FileNotFoundError, MemoryError, pa.ArrowMemoryError)):
        return False  # the file may be fine: the machine is short of memory
    if isinstance(exc, OSError):
        return exc.errno is None  # Arrow's own IO errors (bad pages, thrift) carry no errno
    return isinstance(exc, (pa.ArrowException, *DECODE_ERRORS))


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn damage met while reading ``path`` into ``DamagedFile``."""
    try:
        yield
    except DamagedFile:
        raise
    except Exception as exc:
        if is_damage(exc):
            raise DamagedFile(path, _reason(exc)) from exc
        raise


def read_parquet(
    path: Path, columns: list[str] | None = None, schema: pa.Schema | None = None
) -> pa.Table:
    """A Parquet file (some columns of it)."""
    with reading(path):
        _not_empty(path)
        return pq.read_table(path, columns=columns, schema=schema)


def parquet_schema(path: Path) -> pa.Schema:
    with reading(path):
        _not_empty(path)
        return pq.read_schema(path)


def check_parquet(path: Path) -> None:
    """Read a Parquet file's footer: catches truncation, emptiness and foreign bytes cheaply
    (damage inside a data page shows only when the page is read)."""
    with reading(path):
        _not_empty(path)
        pq.read_metadata(path)


def read_bytes(path: Path) -> bytes:
    with reading(path):
        data = path.read_bytes()
        if not data:
            raise DamagedFile(path, "the file is empty")
        return data


def read_json(path: Path, decode: Callable[[Any], T] = lambda raw: raw) -> T:
    """A JSON file, through ``decode`` (whose errors on content of the wrong shape are damage
    too). ``FileNotFoundError`` when it is missing."""
    data = read_bytes(path)
    with reading(path):
        return decode(orjson.loads(data))


def read_json_or_none(path: Path, decode: Callable[[Any], T] = lambda raw: raw) -> T | None:
    """``read_json``, None when the file is missing."""
    try:
        return read_json(path, decode)
    except FileNotFoundError:
        return None


FORMAT_VERSION = 1
"""The version of every JSON format of the lake so far. A file written before formats were
versioned has no ``format_version`` and is version 1."""


class JsonFormat(Generic[T]):
    """The JSON format of one kind of file, validated by pydantic from the type that models it
    (a dataclass or a pydantic model; its owner module declares it once, beside the type).

    ``decode`` is what ``read_json`` takes: content of the wrong shape raises pydantic's
    ``ValidationError``, which the read reports as ``DamagedFile`` with the path and the
    first field at fault. Fields the type does not declare are ignored, so a file written by
    a later version of the platform still reads."""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind
        self._adapter: TypeAdapter[T] = TypeAdapter(kind)

    def decode(self, raw: Any) -> T:
        return self._adapter.validate_python(raw)

    def to_json(self, value: T) -> Any:
        """``value`` as plain JSON values (dicts, lists, strings, numbers)."""
        return self._adapter.dump_python(value, mode="json", by_alias=True)

    def encode(self, value: T, indent: int | None = None) -> bytes:
        """The bytes of the file holding ``value`` (compact, or indented by ``indent``)."""
        return self._adapter.dump_json(value, indent=indent, by_alias=True)

    def read(self, path: Path) -> T:
        """The file at ``path`` (``DamagedFile``, ``FileNotFoundError`` as ``read_json``)."""
        return read_json(path, self.decode)

    def read_or_none(self, path: Path) -> T | None:
        return read_json_or_none(path, self.decode)


@contextmanager
def duckdb_reading(paths: Iterable[Path]) -> Iterator[None]:
    """DuckDB reading Parquet ``paths``: when it fails, the first damaged one is named as
    ``DamagedFile`` (a missing file, or an error no file explains, goes on as it was)."""
    try:
        yield
    except (duckdb.InterruptException, duckdb.OutOfMemoryException):
        raise  # a query cut at its deadline, or short of memory: no file to blame
    except duckdb.Error as exc:
        for path in paths:
            try:
                read_parquet(path)
            except FileNotFoundError:
                raise exc from None
            except DamagedFile as damaged:
                raise damaged from exc
        raise


def _not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise DamagedFile(path, "the file is empty")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return _validation_reason(exc)
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _validation_reason(exc: ValidationError) -> str:
    """The first field at fault and why: ``ValidationError: events: Input should be a valid
    integer (and 1 more)``."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the document"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"ValidationError: {where}: {first['msg']}{more}"
