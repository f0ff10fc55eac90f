#!/usr/bin/env python3
"""fuzz/make_storage_seeds.py - writes the seed corpora of the storage fuzz
targets (fuzz/corpus/commitlog_read/, fuzz/corpus/sstable_read/) in the input
layouts their file comments describe (fuzz/commitlog_read_fuzz.c,
fuzz/sstable_read_fuzz.c). Entries follow docs/storage.md section 3 for the
fuzz table (pk blob; clustering int ASC, text DESC). Deterministic: rerun it
after a format change and commit the result."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def lenbytes(b):
    return varint(len(b)) + b


def row_key(token, pk, ck0, ck1, slot):
    return (struct.pack(">Q", (token + (1 << 63)) & 0xFFFFFFFFFFFFFFFF) + lenbytes(pk) + b"\x03" +
            b"\x02" + lenbytes(struct.pack(">i", ck0)) + lenbytes(ck1) + struct.pack(">I", slot))


def pdel_key(token, pk):
    return struct.pack(">Q", (token + (1 << 63)) & 0xFFFFFFFFFFFFFFFF) + lenbytes(pk) + b"\x00"


def cell(ts, value=b"", tomb=False, ttl=None, exp=None):
    flags = (1 if tomb else 0) | (2 if ttl is not None else 0)
    out = bytes([flags]) + struct.pack(">q", ts)
    if tomb or ttl is not None:
        out += struct.pack(">q", exp or ts)
    if ttl is not None:
        out += struct.pack(">I", ttl)
    return out + value


def entries(items):
    return b"".join(lenbytes(k) + lenbytes(v) for k, v in items)


def rec(b):
    return struct.pack(">H", len(b)) + b


ROWS = [
    (row_key(-5, b"alpha", 1, b"x", 1), cell(1000)),
    (row_key(-5, b"alpha", 1, b"x", 2), cell(1000, b"value one")),
    (row_key(7, b"beta", -3, b"", 3), cell(2000, b"", tomb=True)),
    (row_key(7, b"beta", 2, b"zz", 2), cell(3000, b"v", ttl=60, exp=4000)),
    (pdel_key(99, b"gamma"), cell(5000, b"", tomb=True)),
]


def write(corpus, name, data):
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def commitlog():
    g1, g2 = entries(ROWS[:2]), entries(ROWS[2:])
    write("commitlog_read", "sealed_two_groups", b"\x01" + rec(g1) + rec(g2))
    write("commitlog_read", "sealed_one_group", b"\x01" + rec(entries(ROWS)))
    write("commitlog_read", "sealed_empty_group", b"\x01" + rec(b""))
    write("commitlog_read", "sealed_seq_skip", b"\x03" + b"\x00" + rec(g1) + b"\x01" + rec(g2))
    write("commitlog_read", "sealed_torn_tail", b"\x05" + rec(g1) + rec(g2) + b"\x07")
    write("commitlog_read", "sealed_bad_entries", b"\x01" + rec(g1) + rec(b"\x05ab"))
    write("commitlog_read", "sealed_bad_cell", b"\x01" + rec(entries([(ROWS[0][0], b"\x07")])))
    write("commitlog_read", "raw_after_header", b"\x02" + struct.pack(">II", 4, 4) + b"\0" * 8 + b"x" * 20)
    write("commitlog_read", "raw_whole_file", b"\x00CFCLOG01" + b"0" * 44)
    write("commitlog_read", "raw_bad_length", b"\x02" + struct.pack(">II", 4, 5) + b"\0" * 24)


def sstable():
    b0 = b"\x00" + entries(ROWS[:2])
    b1 = b"\x00" + entries(ROWS[2:])
    bloom = struct.pack(">I", 7) + b"\xff" * 16
    stats = struct.pack(">QQqqqQQ", 5, 3, 1000, 5000, 5000, 2, 2)
    base = b"\x02" + rec(b0) + rec(b1) + rec(ROWS[1][0]) + rec(ROWS[4][0]) + rec(bloom) + rec(stats)
    write("sstable_read", "sealed_two_blocks", b"\x09" + base)
    write("sstable_read", "sealed_no_blocks", b"\x09\x00" + rec(bloom) + rec(struct.pack(">QQqqqQQ", 0, 0, 0, 0, 0, 0, 0)))
    write("sstable_read", "sealed_truncated", b"\x19" + base + b"\x10")
    write("sstable_read", "sealed_zstd_garbage", b"\x09\x01" + rec(b"\x01\x28\xb5\x2f\xfd" + b"\0" * 8) + rec(ROWS[0][0]) + rec(bloom) + rec(stats))
    idx = b"\x00" + varint(1) + lenbytes(ROWS[1][0]) + varint(52) + varint(10)
    write("sstable_read", "sealed_index_from_input", b"\x0b\x01" + rec(b0) + rec(idx) + rec(bloom) + rec(stats))
    footer = struct.pack(">QIQIQIQ", 52, 40, 100, 40, 200, 40, 1)
    write("sstable_read", "sealed_footer_from_input", b"\x0d\x01" + rec(b0) + rec(ROWS[1][0]) + rec(bloom) + rec(stats) + rec(footer))
    write("sstable_read", "sealed_bad_bloom", b"\x09\x01" + rec(b0) + rec(ROWS[1][0]) + rec(struct.pack(">I", 31)) + rec(stats))
    write("sstable_read", "sealed_bad_entries", b"\x09\x01" + rec(b"\x00\x09abc") + rec(ROWS[1][0]) + rec(bloom) + rec(stats))
    write("sstable_read", "raw_header_only", b"\x00CFSST001" + b"0" * 44)
    write("sstable_read", "raw_end_marker", b"\x00CFSST001" + b"0" * 44 + b"\0" * 60 + b"CFSSTEND")


if __name__ == "__main__":
    commitlog()
    sstable()
