"""Just enough FlatBuffers for protocol/bonus.fbs, in pure Python (no runtime needed).

Writing: `encode_table` lays out one root table front to back::

    0  root offset (u32)   4  file identifier   8  vtable   then the table (8-aligned)
    then each vector: its u32 length placed so that the elements start 8-aligned

Every field is written, defaults too (allowed; readers treat absent and default alike).
That is a valid buffer for `flatbuffers::Verifier`: uoffsets point forward, the vtable
precedes its table (positive soffset), scalars and structs are aligned to their size,
vectors of structs to 8 as protocol/README.md requires.

Reading: `Table` follows the FlatBuffers rules (vtable, defaults for absent fields,
uoffsets to vectors, tables and strings) and checks every offset against the buffer,
raising `Malformed` instead of reading out of bounds.
"""

from __future__ import annotations

import struct

__all__ = ["Malformed", "Scalar", "StructVector", "String", "encode_table", "root", "Table"]


class Malformed(ValueError):
    """The bytes are not the expected FlatBuffers message."""


_u16 = struct.Struct("<H")
_u32 = struct.Struct("<I")
_i32 = struct.Struct("<i")


class Scalar:
    """An inline field: a scalar or a struct, packed with `fmt` (little-endian)."""

    __slots__ = ("packed", "align")

    def __init__(self, fmt: str, *values, align: int | None = None):
        self.packed = struct.pack("<" + fmt, *values)
        self.align = align if align is not None else len(self.packed)


class StructVector:
    """A vector of structs already packed back to back (`count` elements)."""

    __slots__ = ("data", "count")

    def __init__(self, data, count: int):
        self.data = data
        self.count = count


class String:
    """A string field: UTF-8 bytes, written as a vector of bytes with a NUL after them."""

    __slots__ = ("data", "count")

    def __init__(self, text: str | bytes):
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        self.data = raw + b"\0"
        self.count = len(raw)


def _pad(n: int, align: int) -> int:
    return (align - n % align) % align


def encode_table(identifier: bytes, fields: list) -> bytearray:
    """A buffer whose root table has `fields` (index = field id; None = absent)."""
    assert len(identifier) == 4
    nfields = len(fields)
    vsize = 4 + 2 * nfields
    # Inline slots: 4-byte-or-smaller first fills offset 4, then by descending alignment.
    inline = []  # (field index, size, align, packed or None for a vector's uoffset)
    for i, f in enumerate(fields):
        if f is None:
            continue
        if isinstance(f, (StructVector, String)):
            inline.append((i, 4, 4, None))
        else:
            inline.append((i, len(f.packed), f.align, f.packed))
    inline.sort(key=lambda s: -s[2])
    first4 = next((s for s in inline if s[2] == 4), None)
    order = ([first4] if first4 else []) + [s for s in inline if s is not first4]
    offsets: dict[int, int] = {}
    cur = 4
    for i, size, align, _ in order:
        cur += _pad(cur, align)
        offsets[i] = cur
        cur += size
    tsize = cur
    table = 8 + vsize
    table += _pad(table, 8)
    buf = bytearray(table + tsize)
    _u32.pack_into(buf, 0, table)
    buf[4:8] = identifier
    _u16.pack_into(buf, 8, vsize)
    _u16.pack_into(buf, 10, tsize)
    for i in range(nfields):
        _u16.pack_into(buf, 12 + 2 * i, offsets.get(i, 0))
    _i32.pack_into(buf, table, table - 8)
    for i, size, align, packed in order:
        if packed is not None:
            buf[table + offsets[i]:table + offsets[i] + size] = packed
    for i, f in enumerate(fields):
        if isinstance(f, (StructVector, String)):
            length_at = len(buf) + _pad(len(buf) + 4, 8)
            buf.extend(bytes(length_at - len(buf)))
            buf.extend(_u32.pack(f.count))
            buf.extend(f.data)
            field_at = table + offsets[i]
            _u32.pack_into(buf, field_at, length_at - field_at)
    return buf


def root(buf, identifier: bytes) -> "Table":
    """The root table of `buf`, which must carry `identifier`."""
    if len(buf) < 8:
        raise Malformed("body shorter than a FlatBuffers header")
    if bytes(buf[4:8]) != identifier:
        raise Malformed(f"identifier {bytes(buf[4:8])!r}, expected {identifier!r}")
    return Table(buf, _u32.unpack_from(buf, 0)[0])


class Table:
    """A table at `pos` in `buf`, with bounds-checked accessors."""

    __slots__ = ("buf", "pos", "_vt", "_vsize", "_tsize")

    def __init__(self, buf, pos: int):
        n = len(buf)
        if pos % 4 or pos + 4 > n:
            raise Malformed(f"table at {pos} outside the buffer or misaligned")
        vt = pos - _i32.unpack_from(buf, pos)[0]
        if vt < 0 or vt % 2 or vt + 4 > n:
            raise Malformed(f"vtable at {vt} outside the buffer")
        vsize, tsize = struct.unpack_from("<HH", buf, vt)
        if vsize < 4 or vsize % 2 or vt + vsize > n or tsize < 4 or pos + tsize > n:
            raise Malformed("vtable or table size out of range")
        self.buf, self.pos, self._vt, self._vsize, self._tsize = buf, pos, vt, vsize, tsize

    def _offset(self, field: int, size: int) -> int:
        at = 4 + 2 * field
        if at + 2 > self._vsize:
            return 0
        off = _u16.unpack_from(self.buf, self._vt + at)[0]
        if off and off + size > self._tsize:
            raise Malformed(f"field {field} outside its table")
        return off

    def scalar(self, field: int, fmt: str, default=0):
        s = struct.calcsize("<" + fmt)
        off = self._offset(field, s)
        if not off:
            return default
        if (self.pos + off) % s and s in (2, 4, 8):
            raise Malformed(f"field {field} misaligned")
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0]

    def struct(self, field: int, fmt: str):
        """An inline struct field as a tuple, or None when absent."""
        s = struct.calcsize("<" + fmt)
        off = self._offset(field, s)
        if not off:
            return None
        if (self.pos + off) % 8:
            raise Malformed(f"struct field {field} misaligned")
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)

    def _target(self, field: int) -> int | None:
        off = self._offset(field, 4)
        if not off:
            return None
        at = self.pos + off
        if at % 4:
            raise Malformed(f"offset field {field} misaligned")
        target = at + _u32.unpack_from(self.buf, at)[0]
        if target % 4 or target + 4 > len(self.buf):
            raise Malformed(f"field {field} points outside the buffer")
        return target

    def vector(self, field: int, elem_size: int, align: int = 8) -> tuple[int, int] | None:
        """(start, count) of a vector of `elem_size`-byte elements, or None when absent."""
        target = self._target(field)
        if target is None:
            return None
        count = _u32.unpack_from(self.buf, target)[0]
        start = target + 4
        if start + count * elem_size > len(self.buf):
            raise Malformed(f"vector {field} runs past the buffer")
        if count and start % align:
            raise Malformed(f"vector {field} elements misaligned")
        return start, count

    def struct_vector(self, field: int, fmt: str) -> list[tuple] | None:
        s = struct.Struct("<" + fmt)
        v = self.vector(field, s.size)
        if v is None:
            return None
        start, count = v
        return list(s.iter_unpack(self.buf[start:start + count * s.size]))

    def tables(self, field: int) -> list["Table"] | None:
        v = self.vector(field, 4, 4)
        if v is None:
            return None
        start, count = v
        out = []
        for k in range(count):
            at = start + 4 * k
            out.append(Table(self.buf, at + _u32.unpack_from(self.buf, at)[0]))
        return out

    def string(self, field: int) -> str:
        target = self._target(field)
        if target is None:
            return ""
        size = _u32.unpack_from(self.buf, target)[0]
        start = target + 4
        if start + size + 1 > len(self.buf) or self.buf[start + size] != 0:
            raise Malformed(f"string {field} runs past the buffer or is not terminated")
        return bytes(self.buf[start:start + size]).decode("utf-8", errors="replace")

