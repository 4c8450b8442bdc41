"""CRC32C (Castagnoli) in pure Python, as protocol/README.md defines it.

Reflected polynomial 0x82F63B78, initial value ~0, final xor ~0, no masking:
``crc32c(b"123456789") == 0xE3069283`` and the CRC32C of no bytes is 0.

A byte-at-a-time loop runs at about 5 MB/s in CPython, too slow for write batches of
hundreds of kilobytes. Large inputs therefore run many CRC registers side by side
("lanes"): the input is cut into K equal slices, every slice's register advances one
byte per step with ``bytes.translate`` (one 256-byte table per byte of the 32-bit
register) and XORs on Python ints, so each step is a few C-level operations over K bytes.
The K registers are then combined pairwise in a tree, using the fact that CRC without
its final xor is linear: crc(A || B) = shift_|B|(crc(A)) ^ crc0(B), where shift_n feeds
n zero bytes. That runs at about 100 MB/s. Small inputs use the plain table loop.
"""

from __future__ import annotations

__all__ = ["crc32c"]

_POLY = 0x82F63B78


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_T = _make_table()


def _byte_planes(values: list[int]) -> tuple[bytes, bytes, bytes, bytes]:
    """Four 256-byte translate tables: byte j of each 32-bit value."""
    return tuple(bytes((v >> (8 * j)) & 0xFF for v in values) for j in range(4))  # type: ignore[return-value]


_STEP = _byte_planes(_T)

# n (a power of two) -> (ints[k][v], planes[k][j]): the map "feed n zero bytes" applied
# to the register value v << 8k, as ints and as byte planes for translate.
_shift_cache: dict[int, tuple[list[list[int]], tuple]] = {}


def _shift(n: int):
    cached = _shift_cache.get(n)
    if cached is not None:
        return cached
    if n == 1:
        basis = [_T[(1 << i) & 0xFF] ^ ((1 << i) >> 8) for i in range(32)]
    else:
        h = _shift(n // 2)[0]

        def half(x: int) -> int:
            return h[0][x & 0xFF] ^ h[1][(x >> 8) & 0xFF] ^ h[2][(x >> 16) & 0xFF] ^ h[3][x >> 24]

        basis = [half(half(1 << i)) for i in range(32)]
    ints = []
    for k in range(4):
        tab = [0] * 256
        for v in range(1, 256):
            low = v & -v
            tab[v] = tab[v ^ low] ^ basis[8 * k + low.bit_length() - 1]
        ints.append(tab)
    result = (ints, tuple(_byte_planes(tab) for tab in ints))
    _shift_cache[n] = result
    return result


def _serial(reg: int, data, start: int, end: int) -> int:
    t = _T
    for b in data[start:end]:
        reg = t[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _lanes(reg: int, data, start: int, lanes: int, length: int) -> int:
    """Advances `reg` over data[start : start + lanes*length]; both are powers of two."""
    fb = int.from_bytes
    b0, b1, b2, b3 = _STEP
    # Byte planes of the K registers as little-endian ints (lane i = byte i). Lane 0
    # starts from `reg`, every other lane from 0.
    p0, p1, p2, p3 = reg & 0xFF, (reg >> 8) & 0xFF, (reg >> 16) & 0xFF, reg >> 24
    end = start + lanes * length
    for j in range(start, start + length):
        idx = (p0 ^ fb(data[j:end:length], "little")).to_bytes(lanes, "little")
        p0 = fb(idx.translate(b0), "little") ^ p1
        p1 = fb(idx.translate(b1), "little") ^ p2
        p2 = fb(idx.translate(b2), "little") ^ p3
        p3 = fb(idx.translate(b3), "little")
    planes = [p.to_bytes(lanes, "little") for p in (p0, p1, p2, p3)]
    n = length
    while lanes > 1:  # combine neighbours: shift_n(left) ^ right
        sp = _shift(n)[1]
        lanes //= 2
        lefts = [p[0::2] for p in planes]
        out = []
        for j in range(4):
            acc = fb(planes[j][1::2], "little")
            for k in range(4):
                acc ^= fb(lefts[k].translate(sp[k][j]), "little")
            out.append(acc.to_bytes(lanes, "little"))
        planes = out
        n *= 2
    return planes[0][0] | planes[1][0] << 8 | planes[2][0] << 16 | planes[3][0] << 24


_LANES_MIN = 1024  # below this the plain loop is as fast


def crc32c(data, crc: int = 0) -> int:
    """CRC32C of `data` (bytes-like); `crc` continues an earlier crc32c over preceding bytes."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    reg = crc ^ 0xFFFFFFFF
    pos, n = 0, len(data)
    while n - pos >= _LANES_MIN:
        block = 1 << ((n - pos).bit_length() - 1)  # the largest power of two that fits
        length = max(16, block >> 12)
        reg = _lanes(reg, data, pos, block // length, length)
        pos += block
    return _serial(reg, data, pos, n) ^ 0xFFFFFFFF


def crc32c_reference(data, crc: int = 0) -> int:
    """The plain byte-at-a-time CRC32C, for tests."""
    return _serial(crc ^ 0xFFFFFFFF, bytes(data), 0, len(data)) ^ 0xFFFFFFFF
