"""The shell's COPY against a real cofferd.

A table with a column of every type coffer stores (and a clustering
column, nulls, empty and awkward text) is filled with 100,000 rows by COPY
FROM from a CSV the test writes in other spellings than COPY TO's,
exported with COPY TO, imported with COPY FROM into a second table, and
every row of the second table is compared, bit for bit, with the values
the test wrote. Counters go through an UPDATE-based import.
Bad CSV (wrong types, wrong field counts, an unclosed quote, a bad
collection, a null key, a row the server refuses) is reported by file,
line and column, the good rows still land, and -e/-f exit with status 1.
The progress bar is checked through a pseudo-terminal."""
import datetime
import decimal
import ipaddress
import os
import pty
import random
import struct
import subprocess
import sys
import tempfile
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import BUILD, PASSWORD, Cofferd, cluster  # noqa: E402

COFFER = os.path.join(BUILD, "coffer")
ROWS = 100000
# Rows share their other values with one of POOL rows made at random (Python
# is too slow to make 100,000 random rows here); the key and one int vary.
POOL = 1500

COLUMNS = """
    id int, c text, a ascii, t text, i int, bi bigint, si smallint, ti tinyint,
    vi varint, de decimal, f float, d double, b boolean, bl blob, u uuid,
    tu timeuuid, ts timestamp, dt date, tm time, ip inet, l list<text>,
    s set<int>, m map<text, int>, fl frozen<list<int>>, fs frozen<set<text>>,
    fm frozen<map<int, frozen<list<text>>>>, lt list<timestamp>, mi map<inet, date>,
    su set<uuid>, tp tuple<int, text, timestamp>, tn tuple<int, text>, du duration,
    PRIMARY KEY ((id), c)"""
NAMES = ["id", "c", "a", "t", "i", "bi", "si", "ti", "vi", "de", "f", "d", "b", "bl", "u",
         "tu", "ts", "dt", "tm", "ip", "l", "s", "m", "fl", "fs", "fm", "lt", "mi", "su",
         "tp", "tn", "du"]

AWKWARD = ["", "null", "NULL", "a,b", 'say "hi"', "it's", "line1\nline2", "crlf\r\nend",
           "  padded  ", "tab\there", "\x01ctl", "unicode \u00e9\u4e2d\U0001F600", "[1, 2]",
           "{'k': 1}", "back\\slash", ";", "--", "0x00"]


def f32(x):
    return struct.unpack(">f", struct.pack(">f", x))[0]


def timeuuid(rng):
    # version 1, variant 10
    b = bytearray(rng.getrandbits(128).to_bytes(16, "big"))
    b[6] = (b[6] & 0x0F) | 0x10
    b[8] = (b[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(b))


def ts(rng):
    ms = rng.randrange(-2208988800000, 4102444800000)  # 1900 .. 2100
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


def duration(rng):
    from cassandra.util import Duration
    sign = rng.choice([1, -1])
    return Duration(sign * rng.randrange(0, 1000), sign * rng.randrange(0, 40),
                    sign * rng.randrange(0, 10**15))


def text(rng):
    if rng.random() < 0.3:
        return rng.choice(AWKWARD)
    return "".join(rng.choice("abcdefghij ,'\"xyz\u00e9") for _ in range(rng.randrange(0, 12)))


def row(n, rng):
    """Row n: some columns null now and then, edge values now and then."""
    from cassandra.util import Date, Time
    edge = n % 97 == 0
    v = {
        "id": n // 4, "c": "c%06d" % n,
        "a": "".join(rng.choice("ABCxyz ,\"'") for _ in range(rng.randrange(0, 8))),
        "t": text(rng),
        "i": rng.choice([-2**31, 2**31 - 1]) if edge else rng.randrange(-2**31, 2**31),
        "bi": rng.choice([-2**63, 2**63 - 1]) if edge else rng.randrange(-2**63, 2**63),
        "si": rng.randrange(-2**15, 2**15), "ti": rng.randrange(-128, 128),
        "vi": rng.randrange(-10**40, 10**40),
        "de": decimal.Decimal(rng.randrange(-10**20, 10**20)).scaleb(-rng.randrange(-5, 30)),
        "f": f32(rng.choice([float("inf"), float("-inf"), 1e-45, 3.4028234663852886e38])
                 if edge else rng.uniform(-1e6, 1e6)),
        "d": rng.choice([float("inf"), 5e-324, 1.7976931348623157e308, -0.0])
        if edge else rng.uniform(-1e300, 1e300) * rng.random() ** 20,
        "b": rng.random() < 0.5,
        "bl": bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 20))),
        "u": uuid.UUID(int=rng.getrandbits(128)), "tu": timeuuid(rng), "ts": ts(rng),
        "dt": Date(rng.randrange(-25567, 47482)),  # days from the epoch, 1900 .. 2100
        "tm": Time(rng.randrange(0, 86400 * 10**9)),
        "ip": str(ipaddress.IPv4Address(rng.getrandbits(32))) if rng.random() < 0.5
        else str(ipaddress.IPv6Address(rng.getrandbits(128))),
        "l": [text(rng) for _ in range(rng.randrange(1, 4))],
        "s": {rng.randrange(-1000, 1000) for _ in range(rng.randrange(1, 4))},
        "m": {text(rng): rng.randrange(-10, 10) for _ in range(rng.randrange(1, 3))},
        "fl": [rng.randrange(-5, 5) for _ in range(rng.randrange(0, 4))],
        "fs": {text(rng) for _ in range(rng.randrange(0, 3))},
        "fm": {rng.randrange(100): [text(rng)] for _ in range(rng.randrange(0, 3))},
        "lt": [ts(rng) for _ in range(rng.randrange(1, 3))],
        "mi": {"::1": Date(0), str(ipaddress.IPv6Address(rng.getrandbits(128))): Date(1)},
        "su": {uuid.UUID(int=rng.getrandbits(128)) for _ in range(rng.randrange(1, 3))},
        "tp": (rng.randrange(100), text(rng), ts(rng)),
        "tn": (rng.randrange(100), None),
        "du": duration(rng),
    }
    for k in NAMES[2:]:
        if rng.random() < 0.05:
            v[k] = None
    return v


EMPTY_IS_NULL = ("l", "s", "m", "lt", "mi", "su")  # non-frozen collections


def lit(x, quote_all):
    """A value as this test writes it for COPY FROM: deliberately not the way
    COPY TO writes it (ISO timestamps, repr floats, lower-case booleans,
    quoted elements of every type), so the parser meets other spellings."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return "Infinity" if x == float("inf") else "-Infinity" if x == float("-inf") else repr(x)
    if isinstance(x, (int, decimal.Decimal)):
        return str(x)
    if isinstance(x, bytes):
        return "0x" + x.hex()
    if type(x).__name__ == "Duration":
        neg = x.months < 0 or x.days < 0 or x.nanoseconds < 0
        return "%s%dmo%dd%dns" % ("-" if neg else "", abs(x.months), abs(x.days),
                                  abs(x.nanoseconds))
    if isinstance(x, datetime.datetime):
        s = x.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (x.microsecond // 1000)
    elif isinstance(x, list):
        return "[" + ", ".join(lit(e, True) for e in x) + "]"
    elif isinstance(x, tuple):
        return "(" + ", ".join(lit(e, True) for e in x) + ")"
    elif isinstance(x, (set, frozenset)):
        return "{" + ", ".join(lit(e, True) for e in x) + "}"
    elif isinstance(x, dict):
        return "{" + ", ".join(lit(k, True) + ": " + lit(v, True) for k, v in x.items()) + "}"
    else:
        s = str(x)
    if isinstance(x, str) or quote_all:
        return "'" + s.replace("'", "''") + "'" if quote_all else s
    return s


def csv_field(x):
    if x is None:
        return ""
    s = lit(x, False)
    if s == "" or any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def expected(r):
    """The row as the driver reads it back (non-frozen empty collections are
    nulls), floats and decimals apart for an exact check."""
    t = tuple(None if (k in EMPTY_IS_NULL and not r[k]) else r[k] for k in NAMES)
    return t, exact(r)


def exact(r):
    g = r.get if isinstance(r, dict) else lambda k: getattr(r, k)
    return (None if g("f") is None else struct.pack(">f", g("f")),
            None if g("d") is None else struct.pack(">d", g("d")),
            None if g("de") is None else g("de").as_tuple())


class CopyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Cofferd().start()
        cls.tmp = tempfile.TemporaryDirectory(prefix="coffer-copy-test-")
        cls.cl = cluster(cls.d.port)
        cls.s = cls.cl.connect()
        cls.s.execute("CREATE KEYSPACE cp WITH replication = {'class': 'SingleRegionStrategy'}")

    @classmethod
    def tearDownClass(cls):
        cls.cl.shutdown()
        cls.d.cleanup()
        cls.tmp.cleanup()

    def shell(self, *args, **kw):
        env = dict(os.environ, COFFER_PASSWORD=PASSWORD, HOME=self.tmp.name)
        return subprocess.run([COFFER, "shell", "--port", str(self.d.port), *args],
                              capture_output=True, text=True, timeout=300, env=env,
                              stdin=subprocess.DEVNULL, **kw)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write(self, name, text):
        with open(self.path(name), "w", newline="") as f:
            f.write(text)
        return self.path(name)

    def test_round_trip_every_type(self):
        s = self.s
        s.execute("CREATE TABLE cp.src (%s)" % COLUMNS)
        s.execute("CREATE TABLE cp.dst (%s)" % COLUMNS)
        rng = random.Random(8)
        pool = [row(n, rng) for n in range(POOL)]
        fields = [[csv_field(r[k]) for k in NAMES] for r in pool]
        head = [",".join(f[2:4]) for f in fields]  # a, t
        tail = [",".join(f[5:]) for f in fields]   # after i

        def key(n):
            return n // 4, "c%06d" % n, (n * 2654435761) % 2**32 - 2**31

        # The source: a CSV this test writes, with its own spellings.
        given = self.path("given.csv")
        with open(given, "w", newline="") as f:
            for n in range(ROWS):
                k, c, i = key(n)
                f.write("%d,%s,%s,%d,%s\n" % (k, c, head[n % POOL], i, tail[n % POOL]))
        r = self.shell("-e", "COPY cp.src (%s) FROM '%s'" % (", ".join(NAMES), given))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")

        # TO a file, then FROM that file into a second table.
        csv = self.path("src.csv")
        r = self.shell("-e", "COPY cp.src TO '%s' WITH HEADER = true AND PAGESIZE = 2000" % csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^100000 rows exported in [0-9.]+ s \([0-9]+ rows/s\)\n$")
        with open(csv, newline="") as f:
            self.assertEqual(f.readline(), ",".join(["id", "c"] + sorted(NAMES[2:])) + "\n")
        r = self.shell("-e", "COPY cp.dst FROM '%s' WITH HEADER = true" % csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertRegex(r.stdout, r"^100000 rows imported in [0-9.]+ s \([0-9]+ rows/s\)\n$")

        # Every row of the second table is exactly what the test wrote.
        want = [expected(r) for r in pool]
        n = 0
        at = {name: j for j, name in enumerate(NAMES)}
        for g in s.execute("SELECT %s FROM cp.dst" % ", ".join(NAMES)):
            m = int(g.c[1:])
            k, c, i = key(m)
            w, x = want[m % POOL]
            got = tuple(g)
            if (got[:2] != (k, c) or got[at["i"]] != i or got[2:4] != w[2:4] or
                    got[5:] != w[5:] or exact(g) != x):
                self.fail("row %r: got %r, want %r" % ((g.id, g.c), (got, exact(g)), (w, x)))
            n += 1
        self.assertEqual(n, ROWS)

        # A column subset and options: TAB-delimited, NULL marker, MAXROWS.
        part = self.path("part.tsv")
        r = self.shell("-e", "COPY cp.src (id, c, t, d) TO '%s' WITH DELIMITER = '\t' AND "
                             "NULL = 'N/A' AND MAXROWS = 10" % part)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(part, newline="") as f:
            lines = f.read().split("\n")
        self.assertGreaterEqual(len(lines), 11)
        self.assertEqual(len(lines[0].split("\t")), 4, lines[0])

    def test_counters(self):
        s = self.s
        s.execute("CREATE TABLE cp.cnt (k int, c int, hits counter, misses counter, "
                  "PRIMARY KEY (k, c))")
        s.execute("CREATE TABLE cp.cnt2 (k int, c int, hits counter, misses counter, "
                  "PRIMARY KEY (k, c))")
        want = {}
        for k in range(300):
            h, m = k * 3 - 100, k % 7
            s.execute("UPDATE cp.cnt SET hits = hits + %d, misses = misses + %d "
                      "WHERE k = %d AND c = %d" % (h, m, k, k % 5))
            want[(k, k % 5)] = (h, m)
        csv = self.path("cnt.csv")
        r = self.shell("-e", "COPY cp.cnt TO '%s'; COPY cp.cnt2 FROM '%s' WITH MAXBATCHSIZE = 7"
                       % (csv, csv))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("300 rows imported", r.stdout)
        # Importing again adds to the counters (UPDATE c = c + ?), as cqlsh does.
        r = self.shell("-e", "COPY cp.cnt2 FROM '%s'" % csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {(x.k, x.c): (x.hits, x.misses) for x in s.execute("SELECT * FROM cp.cnt2")}
        self.assertEqual(got, {k: (2 * h, 2 * m) for k, (h, m) in want.items()})

    def test_bad_csv_names_line_and_column(self):
        self.s.execute("CREATE TABLE cp.bad (k int PRIMARY KEY, n int, l list<int>, "
                       "t timestamp, v text)")
        path = self.write("bad.csv", (
            "1,10,\"[1, 2]\",2026-01-02 03:04:05.678000+0000,ok\n"
            "2,abc,,,x\n"                       # line 2: not an int
            "3,30,\"[1, 2\",,y\n"               # line 3: unclosed list
            "4,40,,not a time,z\n"              # line 4: bad timestamp
            "5,50\n"                            # line 5: too few fields
            ",60,,,no key\n"                    # line 6: null key
            "7,70,,,\"multi\nline\"\n"          # lines 7-8: fine
            "9,90,\"[1, 'x']\",,w\n"            # line 9: text in a list<int>
            "10,100,,,\"never closed\n"))       # line 10: unterminated quote
        r = self.shell("-e", "COPY cp.bad (k, n, l, t, v) FROM '%s'" % path)
        self.assertEqual(r.returncode, 1)
        err = r.stderr.splitlines()
        self.assertIn('%s:2: field 2 (n): Invalid STRING constant (abc) for "n" of type int'
                      % path, err)
        self.assertTrue(any(e.startswith("%s:3: field 3 (l): Invalid list literal for l of "
                                         "type list<int>: expected ',' or ']'" % path)
                            for e in err), err)
        self.assertIn('%s:4: field 4 (t): Invalid STRING constant (not a time) for "t" of '
                      'type timestamp' % path, err)
        self.assertIn("%s:5: expected 5 fields, found 2" % path, err)
        self.assertIn("%s:6: field 1 (k): the primary key column k cannot be null" % path, err)
        self.assertIn('%s:9: field 3 (l): Invalid STRING constant (x) for "value(l)" of '
                      'type int' % path, err)
        self.assertIn("%s:10: a quoted field opened on this record never closes" % path, err)
        self.assertIn("<stdin>:1:Failed to import 7 rows (7 parse errors, 0 insert errors; "
                      "see above); 2 rows imported", err)
        got = {x.k: x for x in self.s.execute("SELECT * FROM cp.bad")}
        self.assertEqual(sorted(got), [1, 7])
        self.assertEqual(got[7].v, "multi\nline")
        self.assertEqual(got[1].l, [1, 2])
        self.assertEqual(got[1].t, datetime.datetime(2026, 1, 2, 3, 4, 5, 678000))

        # MAXPARSEERRORS = 0 stops at the first bad record; -f exits 1 too.
        self.s.execute("TRUNCATE cp.bad")
        script = self.write("stop.cql", "COPY cp.bad (k, n, l, t, v) FROM '%s' WITH MAXPARSEERRORS = 0 AND "
                                        "MAXBATCHSIZE = 1;\n" % path)
        r = self.shell("-f", script)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:1:Exceeded the maximum of parse errors (0); 1 rows imported"
                      % script, r.stderr)
        self.assertNotIn(":3:", r.stderr.replace(script + ":1:", ""))

    def test_refused_rows_are_retried_one_by_one(self):
        # The server refuses a partition key over 64 KiB; the batch holding
        # that row is retried row by row so only that row fails.
        self.s.execute("CREATE TABLE cp.big (k text PRIMARY KEY, v int)")
        lines = ["k%d,%d" % (i, i) for i in range(30)]
        lines[12] = "%s,12" % ("x" * 70000)
        path = self.write("big.csv", "\n".join(lines) + "\n")
        r = self.shell("-e", "COPY cp.big FROM '%s' WITH MAXBATCHSIZE = 10" % path)
        self.assertEqual(r.returncode, 1, r.stderr)
        err = r.stderr.splitlines()
        self.assertTrue(err[0].startswith("%s:13: InvalidRequest: Error from server: code=2200"
                                          % path), err)
        self.assertIn("Failed to import 1 rows (0 parse errors, 1 insert errors; see above); "
                      "29 rows imported", err[-1])
        self.assertEqual(self.s.execute("SELECT count(*) FROM cp.big").one()[0], 29)

    def test_usage_errors(self):
        self.s.execute("CREATE TABLE cp.usage (k int PRIMARY KEY, n int)")
        r = self.shell("-e", "COPY cp.nope TO '%s'" % self.path("x.csv"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("Table 'cp.nope' does not exist", r.stderr)
        r = self.shell("-e", "COPY nope TO 'x.csv'")
        self.assertIn("No keyspace for table nope", r.stderr)
        r = self.shell("-e", "COPY cp.usage FROM '%s' WITH BOGUS = 1" % self.path("x.csv"))
        self.assertIn("Unrecognized COPY FROM option: BOGUS", r.stderr)
        r = self.shell("-e", "COPY cp.usage FROM '%s'" % self.path("missing.csv"))
        self.assertIn("Cannot open %s: No such file or directory" % self.path("missing.csv"),
                      r.stderr)
        r = self.shell("-e", "COPY cp.usage (n) FROM '%s'" % self.path("x.csv"))
        self.assertIn("The primary key column k is not among COPY's columns", r.stderr)
        r = self.shell("-e", "COPY cp.usage WRONG 'x'")
        self.assertIn("Improper COPY command", r.stderr)
        self.assertEqual(r.returncode, 1)

    def test_import_options(self):
        # HEADER, DELIMITER, QUOTE, NULL, SKIPROWS, MAXROWS on CRLF input, and
        # the same options written back by TO.
        self.s.execute("CREATE TABLE cp.opts (k int PRIMARY KEY, t text, n int)")
        path = self.write("opts.csv", "k|t|n\r\n"
                                      "1|skipped|1\r\n"
                                      "2|~a|b~~c~|N/A\r\n"
                                      "3|~N/A~|30\r\n"
                                      "\r\n"
                                      "4||40\r\n"
                                      "5|beyond maxrows|50\r\n")
        opts = "HEADER = true AND DELIMITER = '|' AND QUOTE = '~' AND NULL = 'N/A'"
        r = self.shell("-e", "COPY cp.opts (k, t, n) FROM '%s' WITH %s AND SKIPROWS = 1 AND "
                             "MAXROWS = 3" % (path, opts))
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {x.k: (x.t, x.n) for x in self.s.execute("SELECT * FROM cp.opts")}
        self.assertEqual(got, {2: ("a|b~c", None), 3: ("N/A", 30), 4: ("", 40)})
        out = self.path("opts-out.csv")
        r = self.shell("-e", "COPY cp.opts (k, t, n) TO '%s' WITH %s" % (out, opts))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, newline="") as f:
            self.assertEqual(sorted(f.read().splitlines()),
                             sorted(["k|t|n", "2|~a|b~~c~|N/A", "3|~N/A~|30", "4||40"]))

    def test_system_table_export(self):
        # System tables take no token(): COPY goes on without the progress fraction.
        path = self.path("keyspaces.csv")
        r = self.shell("-e", "COPY system_schema.keyspaces (keyspace_name, durable_writes) "
                             "TO '%s'" % path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path) as f:
            self.assertIn("system_schema,True\n", f.read())

    def test_write_error_leaves_the_shell_usable(self):
        # The device fills up mid-export while the next page is on its way:
        # COPY fails naming the file, and the next statement gets its own answer.
        self.s.execute("CREATE TABLE cp.filled (k int PRIMARY KEY, v text)")
        path = self.write("full.csv", "".join("%d,%s\n" % (i, "x" * 200) for i in range(400)))
        again = self.path("again.csv")
        r = self.shell("-e", "COPY cp.filled FROM '%s'; COPY cp.filled TO '/dev/full' WITH "
                             "PAGESIZE = 50; COPY cp.filled TO '%s' WITH PAGESIZE = 50; "
                             "SELECT count(*) FROM cp.filled" % (path, again))
        self.assertEqual(r.returncode, 1)
        self.assertIn("Cannot write /dev/full: No space left on device", r.stderr)
        self.assertIn("400 rows exported", r.stdout)
        self.assertIn("\n   400\n", r.stdout)
        with open(again) as f, open(path) as g:
            self.assertEqual(sorted(f.read().splitlines()), sorted(g.read().splitlines()))

    def test_progress_bar_on_a_terminal(self):
        self.s.execute("CREATE TABLE cp.prog (k int PRIMARY KEY, v text)")
        path = self.write("prog.csv", "".join("%d,v%d\n" % (i, i) for i in range(5000)))
        master, slave = pty.openpty()
        env = dict(os.environ, COFFER_PASSWORD=PASSWORD, HOME=self.tmp.name)
        p = subprocess.Popen([COFFER, "shell", "--port", str(self.d.port), "-e",
                              "COPY cp.prog FROM '%s' WITH MAXBATCHSIZE = 1 AND "
                              "MAXINFLIGHTMESSAGES = 2" % path],
                             stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env=env)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(timeout=120)
        p.stderr.close()
        os.close(master)
        self.assertEqual(p.returncode, 0)
        text = out.decode()
        self.assertRegex(text, r"\r\[[#.]{30}\] +\d+% \d+ rows imported, \d+ rows/s")
        self.assertRegex(text, r"\r\x1b\[K5000 rows imported in [0-9.]+ s \(\d+ rows/s\)")


if __name__ == "__main__":
    unittest.main()
