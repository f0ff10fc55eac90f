#!/usr/bin/env python3
# Writes the tricky-input corpus for the CQL native protocol decoders: each
# *.bin file is a byte stream as a client might send it. fuzz/proto_frame_fuzz.c
# can start from it (-seed_corpus) and tests/unit/proto/corpus_test.c replays
# it through coffer_proto_fuzz_one() in every build. Hand-assembled from
# doc/native_protocol_v4.spec; rerun this script to regenerate.
import os
import struct

def frame(op, body=b"", stream=0, version=4, flags=0):
    return struct.pack(">BBhBI", version, flags, stream, op, len(body)) + body

def short(n): return struct.pack(">H", n)
def int_(n): return struct.pack(">i", n)
def long_(n): return struct.pack(">q", n)
def string(s):
    b = s.encode() if isinstance(s, str) else s
    return short(len(b)) + b
def long_string(s):
    b = s.encode() if isinstance(s, str) else s
    return int_(len(b)) + b
def bytes_(b): return int_(-1) if b is None else int_(len(b)) + b
def string_list(items): return short(len(items)) + b"".join(string(i) for i in items)
def string_map(d): return short(len(d)) + b"".join(string(k) + string(v) for k, v in d.items())

STARTUP, OPTIONS, QUERY, PREPARE, EXECUTE, REGISTER, BATCH, AUTH_RESPONSE = 1, 5, 7, 9, 10, 11, 13, 15
ERROR, RESULT, EVENT = 0, 8, 12

def query(q, cl=1, flags=0, rest=b""):
    return long_string(q) + short(cl) + bytes([flags]) + rest

files = {}
files["options_v4.bin"] = frame(OPTIONS, stream=1)
files["python_connect.bin"] = (
    frame(OPTIONS, stream=0)
    + frame(STARTUP, string_map({"CQL_VERSION": "3.4.5", "DRIVER_NAME": "DataStax Python Driver",
                                 "DRIVER_VERSION": "3.25.0"}), stream=1)
    + frame(AUTH_RESPONSE, bytes_(b"\0cassandra\0cassandra"), stream=2)
    + frame(QUERY, query("SELECT * FROM system.local WHERE key='local'", 1, 0x24,
                         int_(5000) + long_(1700000000000000)), stream=3)
    + frame(REGISTER, string_list(["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]), stream=4)
    + frame(PREPARE, long_string("INSERT INTO ks.t (k, v) VALUES (?, ?)"), stream=5)
    + frame(EXECUTE, short(4) + b"\xde\xad\xbe\xef" + short(6) + bytes([0x27]) + short(2)
            + bytes_(b"k") + int_(-2) + int_(100) + long_(1), stream=6))
files["version_probe_0x42.bin"] = frame(OPTIONS, version=0x42) + frame(OPTIONS)
files["version_1.bin"] = bytes([1, 0, 7, 5, 0, 0, 0, 0])
files["version_5.bin"] = frame(OPTIONS, version=5, stream=3)
files["version_switch.bin"] = frame(OPTIONS, version=4, stream=1) + frame(OPTIONS, version=3, stream=2) + frame(OPTIONS, stream=3)
files["oversize_then_options.bin"] = frame(QUERY, b"\0" * 70000, stream=1) + frame(OPTIONS, stream=2)
files["oversize_truncated.bin"] = struct.pack(">BBhBI", 4, 0, 1, QUERY, 0x10000000) + b"\0" * 10
files["negative_length.bin"] = struct.pack(">BBhBi", 4, 0, 1, QUERY, -5) + frame(OPTIONS)
files["compressed_flag.bin"] = frame(QUERY, b"\x00\x00\x00\x05hello", flags=1, stream=1) + frame(OPTIONS, stream=2)
files["response_direction.bin"] = frame(OPTIONS, version=0x84)
files["unknown_opcodes.bin"] = b"".join(frame(op, stream=op) for op in (4, 0x11, 0x7f, 0xff, 2, 3, 6, 8, 0x0e, 0x10))
files["batch_kind2.bin"] = frame(BATCH, bytes([0]) + short(1) + bytes([2]) + long_string("x") + short(0) + short(1) + bytes([0]))
files["batch_named.bin"] = frame(BATCH, bytes([1]) + short(1) + bytes([0]) + long_string("INSERT") + short(1) + string("n") + bytes_(b"v") + short(1) + bytes([0x40]))
files["batch_good.bin"] = frame(BATCH, bytes([0]) + short(2) + bytes([0]) + long_string("INSERT INTO t (k) VALUES (?)") + short(1) + bytes_(b"1")
                                + bytes([1]) + short(2) + b"\x01\x02" + short(2) + bytes_(None) + int_(-2)
                                + short(6) + bytes([0x30]) + short(9) + long_(7))
files["batch_flags_low_bits.bin"] = frame(BATCH, bytes([0]) + short(0) + short(1) + bytes([0x05]))
files["query_all_flags.bin"] = frame(QUERY, query("SELECT :a, :b", 6, 0x7f, short(2) + string("a") + bytes_(b"\0\0\0\1") + string("b") + int_(-2)
                                                  + int_(100) + bytes_(b"state") + short(9) + long_(5)), stream=9, flags=0x02)
files["query_v3_negative_values.bin"] = frame(QUERY, query("SELECT ?", 1, 0x01, short(3) + int_(-1) + int_(-2) + int_(-1000)), version=3)
files["query_value_count_low.bin"] = frame(QUERY, query("SELECT ?", 1, 0x01, short(1) + bytes_(b"a") + bytes_(b"b")))
files["query_value_count_high.bin"] = frame(QUERY, query("SELECT ?", 1, 0x01, short(3) + bytes_(b"a")))
files["query_bad_consistency.bin"] = frame(QUERY, query("SELECT 1", 0x0b))
files["query_flag_0x80.bin"] = frame(QUERY, query("SELECT 1", 1, 0x80))
files["query_page_size_0.bin"] = frame(QUERY, query("SELECT 1", 1, 0x04, int_(0)))
files["query_ts_min.bin"] = frame(QUERY, query("SELECT 1", 1, 0x20, long_(-2**63)))
files["query_len_past_end.bin"] = frame(QUERY, int_(1000) + b"SELECT")
files["query_negative_len.bin"] = frame(QUERY, int_(-7) + short(1) + b"\0")
files["query_bad_utf8.bin"] = frame(QUERY, query(b"SELECT \xc0\xaf"))
files["query_value_minus3.bin"] = frame(QUERY, query("SELECT ?", 1, 0x01, short(1) + int_(-3)))
files["payload_v4.bin"] = frame(QUERY, short(2) + string("k1") + bytes_(b"v") + string("k2") + bytes_(None) + query("SELECT 1"), flags=0x04)
files["payload_v3.bin"] = frame(QUERY, short(0) + query("SELECT 1"), flags=0x04, version=3)
files["payload_huge_count.bin"] = frame(OPTIONS, short(0xffff) + b"\0\0", flags=0x04)
files["startup_no_cql_version.bin"] = frame(STARTUP, string_map({"DRIVER_NAME": "x"}))
files["startup_lz4.bin"] = frame(STARTUP, string_map({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}))
files["startup_nul_in_string.bin"] = frame(STARTUP, short(1) + string("CQL_VERSION") + string(b"3\x000"))
files["startup_huge_count.bin"] = frame(STARTUP, short(0xffff))
files["register_unknown.bin"] = frame(REGISTER, string_list(["SCHEMA_CHANGE", "NOPE"]))
files["sasl_variants.bin"] = b"".join(frame(AUTH_RESPONSE, bytes_(t), stream=i) for i, t in enumerate(
    [None, b"", b"user", b"\0user", b"\0user\0", b"\0\0pw", b"a\0b\0c", b"b\0b\0c", b"\0u\0p\0", b"\0\xff\0p"]))
files["pipelined_options.bin"] = b"".join(frame(OPTIONS, stream=i) for i in range(50))
files["partial_tail.bin"] = frame(OPTIONS, stream=1) + frame(QUERY, query("SELECT 1"))[:-3]

# Response bodies, sent in request frames: the request decoder refuses the
# opcode, and the response decoder (also run on every body) parses them.
def col(name, typ): return string("ks") + string("t") + string(name) + typ
deep = short(0x20) * 40 + short(9)
files["result_deep_type.bin"] = frame(RESULT, int_(2) + int_(0) + int_(1) + col("a", deep) + int_(0))
udt = short(0x30) + string("ks") + string("addr") + short(2) + string("street") + short(0x0d) + string("zip") + short(9)
tup = short(0x31) + short(3) + short(9) + short(0x0d) + short(0x11)
mp = short(0x21) + short(0x0d) + short(0x20) + short(9)
files["result_rows_types.bin"] = frame(RESULT, int_(2) + int_(0x2) + int_(4) + bytes_(b"ps") + col("u", udt) + col("t", tup) + col("m", mp)
                                       + col("c", short(0) + string("org.x.Y")) + int_(2) + b"".join(bytes_(b"ab") for _ in range(8)))
files["result_rows_count_lie.bin"] = frame(RESULT, int_(2) + int_(4) + int_(3) + int_(1000000))
files["result_prepared.bin"] = frame(RESULT, int_(4) + short(2) + b"id" + int_(1) + int_(1) + int_(1) + short(0) + string("ks") + string("t")
                                     + string("k") + short(9) + int_(4) + int_(0))
files["result_schema_change.bin"] = frame(RESULT, int_(5) + string("CREATED") + string("FUNCTION") + string("ks") + string("f") + string_list(["int"]))
files["event_status.bin"] = frame(EVENT, string("STATUS_CHANGE") + string("UP") + bytes([16]) + b"\0" * 15 + b"\1" + int_(9042), stream=-1)
files["event_bad_inet.bin"] = frame(EVENT, string("TOPOLOGY_CHANGE") + string("NEW_NODE") + bytes([7]) + b"\0" * 7 + int_(1))
files["error_extras.bin"] = b"".join(frame(ERROR, int_(code) + string("m") + extra) for code, extra in [
    (0x1000, short(4) + int_(3) + int_(1)), (0x1100, short(1) + int_(0) + int_(1) + string("SIMPLE")),
    (0x1200, short(1) + int_(0) + int_(1) + b"\1"), (0x1300, short(1) + int_(0) + int_(1) + int_(1) + b"\0"),
    (0x1400, string("ks") + string("f") + string_list(["int"])), (0x1500, short(1) + int_(0) + int_(1) + int_(1) + string("BATCH")),
    (0x2400, string("ks") + string("")), (0x2500, short(2) + b"id"), (0x1000, short(4))])

here = os.path.dirname(os.path.abspath(__file__))
for name, data in sorted(files.items()):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
print(len(files), "files")
