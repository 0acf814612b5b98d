"""How Python values become task payloads and outputs, and back.

A codec turns a value into bytes (``encode``) and bytes into a value
(``decode``). Three are built in:

- :data:`BYTES` (the default): ``bytes`` as they are, ``str`` as UTF-8;
  decoding gives ``bytes``. What every executor in any language speaks.
- :data:`JSON`: any JSON-serialisable value (dict, list, str, numbers,
  bools, None), UTF-8 JSON on the wire; readable by executors and clients
  in other languages.
- :func:`pickle_codec`: any picklable Python value. **Unpickling runs code
  chosen by whoever wrote the bytes**: a client that can submit jobs could
  run anything in a pickle-decoding executor, and an executor could do the
  same to the client. It is therefore never chosen by name: both sides must
  build it explicitly with ``pickle_codec(trusted=True)``, and only where
  every client and executor of the cluster is trusted (with the cluster
  token and TLS). Prefer :data:`JSON`.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Union


class Codec:
    """Turns values into payload bytes and back."""

    #: Shown in errors.
    name = "codec"

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<passer codec {self.name}>"


class BytesCodec(Codec):
    """``bytes`` unchanged, ``str`` as UTF-8; decodes to ``bytes``."""

    name = "bytes"

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise TypeError(
            f"the bytes codec takes bytes or str, not {type(value).__name__} "
            "(use codec='json' for dicts, lists and numbers)"
        )

    def decode(self, data: bytes) -> Any:
        return bytes(data)


class JsonCodec(Codec):
    """JSON in UTF-8."""

    name = "json"

    def encode(self, value: Any) -> bytes:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise TypeError(f"value is not JSON-serialisable: {error}") from None

    def decode(self, data: bytes) -> Any:
        try:
            return json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"payload is not JSON: {error}") from None


class PickleCodec(Codec):
    """Python's pickle; see the module docs for the risk."""

    name = "pickle"

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(bytes(data))  # noqa: S301 - opted into with trusted=True


BYTES: Codec = BytesCodec()
JSON: Codec = JsonCodec()


def pickle_codec(*, trusted: bool = False) -> Codec:
    """The pickle codec, for clusters where every party is trusted.

    Raises:
        ValueError: unless ``trusted=True`` says the caller accepts that
            decoding a pickle runs code its sender chose.
    """
    if not trusted:
        raise ValueError(
            "pickle runs code chosen by whoever wrote the bytes; "
            "call pickle_codec(trusted=True) only where every client and executor is trusted"
        )
    return PickleCodec()


CodecLike = Union[str, Codec, None]


def resolve(codec: CodecLike) -> Codec:
    """A codec from a name (``"bytes"``, ``"json"``) or a :class:`Codec`."""
    if codec is None:
        return BYTES
    if isinstance(codec, Codec):
        return codec
    if codec == "bytes":
        return BYTES
    if codec == "json":
        return JSON
    if codec == "pickle":
        raise ValueError("pickle is not chosen by name: pass passer.codecs.pickle_codec(trusted=True)")
    raise ValueError(f"unknown codec {codec!r}: use 'bytes', 'json' or a passer.codecs.Codec")
