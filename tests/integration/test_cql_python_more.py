"""More of cofferd driven by the DataStax Python driver (python3-cassandra):
TLS with a verified certificate, paging through 50,000 rows, prepared
statements with every CQL type, schema metadata kept current by
SCHEMA_CHANGE events, the driver reconnecting by itself after a restart on
the same port, conditional updates, every DELETE form, TTL and writetime(),
IN on the partition key, ORDER BY DESC, LIMIT and PER PARTITION LIMIT,
token() ranges, ALLOW FILTERING and its refusal, and a logged batch across
tables (through the batch log)."""
import datetime
import decimal
import ipaddress
import os
import ssl
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import Cofferd, cluster, free_port, self_signed_cert  # noqa: E402

from cassandra import InvalidRequest  # noqa: E402
from cassandra.policies import ConstantReconnectionPolicy  # noqa: E402
from cassandra.query import BatchStatement, BatchType, SimpleStatement  # noqa: E402
from cassandra.util import Date, OrderedMapSerializedKey, SortedSet, Time, uuid_from_time  # noqa: E402

KS = "more"


class PythonDriverMoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Cofferd()
        cls.cert, cls.key = self_signed_cert(cls.d.tmp.name)
        cls.d.extra = ["--tls-listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", cls.key]
        cls.d.start()
        cls.c = cluster(cls.d.port, schema_event_refresh_window=0.05)
        cls.s = cls.c.connect()
        cls.s.execute("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                      "{'class': 'SingleRegionStrategy'}" % KS)

    @classmethod
    def tearDownClass(cls):
        cls.c.shutdown()
        cls.d.cleanup()

    # ---- TLS --------------------------------------------------------------------------

    def test_tls_verified(self):
        self.assertIsNotNone(self.d.tls_port)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cert)
        ctx.check_hostname = True
        c = cluster(self.d.tls_port, ssl_context=ctx, ssl_options={"server_hostname": "localhost"})
        self.addCleanup(c.shutdown)
        s = c.connect()
        s.execute("CREATE TABLE IF NOT EXISTS %s.tls (k int PRIMARY KEY, v text)" % KS)
        ins = s.prepare("INSERT INTO %s.tls (k, v) VALUES (?, ?)" % KS)
        for i in range(20):
            s.execute(ins, (i, "tls-%d" % i))
        self.assertEqual(s.execute("SELECT v FROM %s.tls WHERE k = 7" % KS).one().v, "tls-7")
        self.assertEqual(len(list(s.execute(SimpleStatement("SELECT k FROM %s.tls" % KS, fetch_size=6)))), 20)
        # A client that does not trust the certificate is refused.
        bad = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        c2 = cluster(self.d.tls_port, ssl_context=bad)
        self.addCleanup(c2.shutdown)
        with self.assertRaises(Exception):
            c2.connect()

    # ---- paging ------------------------------------------------------------------------

    def test_paging_50000_rows(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.big (p int, c int, v text, PRIMARY KEY (p, c))" % KS)
        ins = s.prepare("INSERT INTO %s.big (p, c, v) VALUES (?, ?, ?)" % KS)
        batches = []
        for p in range(200):
            b = BatchStatement(batch_type=BatchType.UNLOGGED)
            for c in range(250):
                b.add(ins, (p, c, "v%d" % c))
            batches.append((b,))
        for ok, r in _concurrent(s, batches):
            self.assertTrue(ok, r)
        st = SimpleStatement("SELECT p, c FROM %s.big" % KS, fetch_size=5000)
        rs = s.execute(st)
        seen = set()
        pages = 0
        while True:
            pages += 1
            for r in rs.current_rows:
                seen.add((r.p, r.c))
            if not rs.has_more_pages:
                break
            self.assertEqual(len(rs.current_rows), 5000)
            rs.fetch_next_page()
        self.assertEqual(len(seen), 50000)
        self.assertEqual(pages, 10)
        # Prepared and paged, with a restriction, resumed from a saved state.
        sel = s.prepare("SELECT c FROM %s.big WHERE p = ?" % KS)
        sel.fetch_size = 100
        first = s.execute(sel, (42,))
        state = first.paging_state
        rest = s.execute(sel, (42,), paging_state=state)
        got = [r.c for r in first.current_rows] + [r.c for r in rest]
        self.assertEqual(got, list(range(250)))
        self.assertEqual(s.execute("SELECT COUNT(*) FROM %s.big" % KS).one()[0], 50000)

    # ---- types ---------------------------------------------------------------------------

    def test_prepared_every_type(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.types (k int PRIMARY KEY, a ascii, t text, vc varchar, i int, "
                  "bi bigint, si smallint, ti tinyint, vi varint, de decimal, f float, d double, b boolean, "
                  "bl blob, u uuid, tu timeuuid, ts timestamp, dt date, tm time, ip inet, ip6 inet, "
                  "l list<int>, st set<text>, m map<text, int>, fl frozen<list<text>>, fs frozen<set<int>>, "
                  "fm frozen<map<int, text>>, tp tuple<int, text, double>, nest map<text, frozen<list<int>>>, "
                  "ftp frozen<tuple<bigint, frozen<set<uuid>>>>)" % KS)
        cols = ["k", "a", "t", "vc", "i", "bi", "si", "ti", "vi", "de", "f", "d", "b", "bl", "u", "tu", "ts", "dt",
                "tm", "ip", "ip6", "l", "st", "m", "fl", "fs", "fm", "tp", "nest", "ftp"]
        ins = s.prepare("INSERT INTO %s.types (%s) VALUES (%s)" % (KS, ", ".join(cols), ", ".join("?" * len(cols))))
        u1, u2 = uuid.uuid4(), uuid.uuid4()
        tu = uuid_from_time(time.time())
        rows = {
            1: [1, "plain ascii", "h\u00e9llo \u2713 \U0001F600", "varchar", 2147483647, 9223372036854775807,
                32767, 127, 2 ** 100 + 7, decimal.Decimal("12345678901234567890.000123"), 1.5,
                3.141592653589793, True, b"\x00\x01\xfe\xff", u1, tu,
                datetime.datetime(2024, 2, 29, 23, 59, 58, 123000), datetime.date(2024, 2, 29),
                datetime.time(13, 14, 15, 123456), "192.168.10.20", "2001:db8::1",
                [3, 1, 2], {"x", "y"}, {"a": 1, "b": 2}, ["p", "q"], {5, 6}, {1: "one", 2: "two"},
                (1, "tuple", 2.25), {"n": [1, 2, 3]}, (7, {u1, u2})],
            2: [2, "", "", "", -2147483648, -9223372036854775808, -32768, -128, -(2 ** 70),
                decimal.Decimal("-0.5"), -0.0, float("inf"), False, b"", uuid.UUID(int=0), tu,
                datetime.datetime(1950, 6, 1, 0, 0, 0), datetime.date(1900, 1, 1), datetime.time(0, 0),
                "0.0.0.0", "::", [], set(), {}, [], set(), {}, (None, None, None), {}, (0, set())],
        }
        for vals in rows.values():
            s.execute(ins, vals)
        s.execute(ins, [3] + [None] * (len(cols) - 1))
        sel = s.prepare("SELECT %s FROM %s.types WHERE k = ?" % (", ".join(cols), KS))
        for k, vals in rows.items():
            r = s.execute(sel, (k,)).one()
            got = [_norm(v) for v in r]
            want = [_norm(v) for v in vals]
            for name, g, w in zip(cols, got, want):
                if name in ("l", "st", "m", "nest") and k == 2:
                    self.assertIsNone(g, name)  # an empty collection reads as null, as in Cassandra
                    continue
                self.assertEqual(g, w, "column %s of row %d" % (name, k))
        r = s.execute(sel, (3,)).one()
        self.assertEqual(list(r)[1:], [None] * (len(cols) - 1))
        # The same values as literals in query text (the driver interpolates).
        # Python tuples become list literals unless told otherwise, which
        # Cassandra refuses for tuple columns too (the driver's documented
        # switch for tuple columns in simple statements):
        s.encoder.mapping[tuple] = s.encoder.cql_encode_tuple
        self.addCleanup(s.encoder.mapping.__setitem__, tuple, s.encoder.cql_encode_list_collection)
        s.execute("INSERT INTO " + KS + ".types (" + ", ".join(cols) + ") VALUES (" +
                  ", ".join(["%s"] * len(cols)) + ")", [4] + rows[1][1:])
        r4 = s.execute(sel, (4,)).one()
        self.assertEqual([_norm(v) for v in list(r4)[1:]], [_norm(v) for v in rows[1][1:]])
        # Bind metadata carries the types: a wrong Python type fails in the driver,
        # a wrong literal in the server names the column.
        with self.assertRaises(InvalidRequest) as ctx:
            s.execute("INSERT INTO %s.types (k, i) VALUES (5, 'nope')" % KS)
        self.assertIn("i", str(ctx.exception))
        # counter (its own table)
        s.execute("CREATE TABLE IF NOT EXISTS %s.ctr (k text PRIMARY KEY, n counter, m counter)" % KS)
        inc = s.prepare("UPDATE %s.ctr SET n = n + ?, m = m - ? WHERE k = ?" % KS)
        for _ in range(5):
            s.execute(inc, (3, 1, "c"))
        r = s.execute(s.prepare("SELECT n, m FROM %s.ctr WHERE k = ?" % KS), ("c",)).one()
        self.assertEqual((r.n, r.m), (15, -5))

    # ---- schema metadata and events ---------------------------------------------------

    def test_schema_metadata_and_events(self):
        # DDL from another client: this Cluster learns it from SCHEMA_CHANGE
        # events, without refresh_schema_metadata().
        other = cluster(self.d.port)
        self.addCleanup(other.shutdown)
        o = other.connect()
        o.execute("CREATE KEYSPACE evks WITH replication = {'class': 'SingleRegionStrategy'}")
        o.execute("CREATE TABLE evks.t (p text, c timestamp, v map<text, int>, s int static, "
                  "PRIMARY KEY ((p), c)) WITH CLUSTERING ORDER BY (c DESC)")
        meta = self.c.metadata
        t = _wait(lambda: meta.keyspaces.get("evks") and meta.keyspaces["evks"].tables.get("t"))
        self.assertEqual([c.name for c in t.partition_key], ["p"])
        self.assertEqual([c.name for c in t.clustering_key], ["c"])
        self.assertEqual(t.clustering_key[0].is_reversed, True)
        self.assertEqual(t.columns["v"].cql_type, "map<text, int>")
        self.assertTrue(t.columns["s"].is_static)
        o.execute("ALTER TABLE evks.t ADD extra blob")
        _wait(lambda: "extra" in meta.keyspaces["evks"].tables["t"].columns)
        o.execute("ALTER TABLE evks.t DROP extra")
        _wait(lambda: "extra" not in meta.keyspaces["evks"].tables["t"].columns)
        o.execute("DROP TABLE evks.t")
        _wait(lambda: "t" not in meta.keyspaces["evks"].tables)
        o.execute("DROP KEYSPACE evks")
        _wait(lambda: "evks" not in meta.keyspaces)
        # DDL on this session: the driver waits for agreement and refreshes.
        self.s.execute("CREATE TABLE %s.meta (a int, b int, c text, PRIMARY KEY ((a, b)))" % KS)
        t = self.c.metadata.keyspaces[KS].tables["meta"]
        self.assertEqual([c.name for c in t.partition_key], ["a", "b"])
        self.assertIn("CREATE TABLE %s.meta" % KS, t.export_as_string())

    # ---- reconnection -------------------------------------------------------------------

    def test_driver_reconnects_after_restart(self):
        port = free_port()
        d = Cofferd(extra=["--listen", "127.0.0.1:%d" % port])
        d.start()
        self.addCleanup(d.cleanup)
        self.assertEqual(d.port, port)
        c = cluster(port, reconnection_policy=ConstantReconnectionPolicy(0.5))
        self.addCleanup(c.shutdown)
        s = c.connect()
        s.execute("CREATE KEYSPACE rc WITH replication = {'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE rc.t (k int PRIMARY KEY, v text)")
        ins = s.prepare("INSERT INTO rc.t (k, v) VALUES (?, ?)")
        s.execute(ins, (1, "before"))
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(d.port, port)
        deadline = time.time() + 30
        while True:
            try:
                s.execute(ins, (2, "after"))  # the prepared id may need re-preparing
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.25)
        rows = {r.k: r.v for r in s.execute("SELECT k, v FROM rc.t")}
        self.assertEqual(rows, {1: "before", 2: "after"})

    # ---- conditional updates -----------------------------------------------------------

    def test_conditional_updates(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.cond (k text PRIMARY KEY, v int, w text)" % KS)
        r = s.execute("INSERT INTO %s.cond (k, v, w) VALUES ('a', 1, 'x') IF NOT EXISTS" % KS)
        self.assertTrue(r.was_applied)
        r = s.execute("INSERT INTO %s.cond (k, v, w) VALUES ('a', 2, 'y') IF NOT EXISTS" % KS)
        self.assertFalse(r.was_applied)
        self.assertEqual((r.one().v, r.one().w), (1, "x"))  # the existing row comes back
        r = s.execute("UPDATE %s.cond SET v = 5 WHERE k = 'a' IF v = 9" % KS)
        self.assertFalse(r.was_applied)
        self.assertEqual(r.one().v, 1)
        upd = s.prepare("UPDATE %s.cond SET v = ? WHERE k = ? IF v = ?" % KS)
        self.assertTrue(s.execute(upd, (5, "a", 1)).was_applied)
        self.assertFalse(s.execute(upd, (6, "a", 1)).was_applied)
        self.assertTrue(s.execute("UPDATE %s.cond SET w = 'z' WHERE k = 'a' IF v > 4 AND w = 'x'" % KS).was_applied)
        self.assertFalse(s.execute("UPDATE %s.cond SET v = 0 WHERE k = 'nope' IF EXISTS" % KS).was_applied)
        self.assertTrue(s.execute("UPDATE %s.cond SET v = 7 WHERE k = 'a' IF EXISTS" % KS).was_applied)
        self.assertFalse(s.execute("DELETE FROM %s.cond WHERE k = 'a' IF v = 1" % KS).was_applied)
        self.assertTrue(s.execute("DELETE FROM %s.cond WHERE k = 'a' IF v = 7" % KS).was_applied)
        self.assertFalse(s.execute("DELETE FROM %s.cond WHERE k = 'a' IF EXISTS" % KS).was_applied)
        self.assertIsNone(s.execute("SELECT * FROM %s.cond WHERE k = 'a'" % KS).one())

    # ---- DELETE forms --------------------------------------------------------------------

    def test_every_delete_form(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.del (p int, c1 int, c2 int, v text, w text, st text static, "
                  "m map<text, int>, l list<int>, se set<int>, PRIMARY KEY (p, c1, c2))" % KS)
        ins = s.prepare("INSERT INTO %s.del (p, c1, c2, v, w, st, m, l, se) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)" % KS)

        def fill():
            for p in range(3):
                for c1 in range(3):
                    for c2 in range(3):
                        s.execute(ins, (p, c1, c2, "v", "w", "st%d" % p, {"a": 1, "b": 2}, [1, 2, 3], {7, 8}))

        def rows(p):
            return [(r.c1, r.c2) for r in s.execute("SELECT c1, c2 FROM %s.del WHERE p = %d" % (KS, p))]

        fill()
        s.execute("DELETE v FROM %s.del WHERE p = 0 AND c1 = 0 AND c2 = 0" % KS)  # a column
        r = s.execute("SELECT v, w FROM %s.del WHERE p = 0 AND c1 = 0 AND c2 = 0" % KS).one()
        self.assertEqual((r.v, r.w), (None, "w"))
        s.execute("DELETE m['a'], l[0], se[7] FROM %s.del WHERE p = 0 AND c1 = 0 AND c2 = 1" % KS)  # elements
        r = s.execute("SELECT m, l, se FROM %s.del WHERE p = 0 AND c1 = 0 AND c2 = 1" % KS).one()
        self.assertEqual((dict(r.m), r.l, set(r.se)), ({"b": 2}, [2, 3], {8}))
        s.execute("DELETE st FROM %s.del WHERE p = 1" % KS)  # a static column
        self.assertIsNone(s.execute("SELECT st FROM %s.del WHERE p = 1 LIMIT 1" % KS).one().st)
        s.execute("DELETE FROM %s.del WHERE p = 0 AND c1 = 2 AND c2 = 2" % KS)  # a row
        self.assertNotIn((2, 2), rows(0))
        s.execute("DELETE FROM %s.del WHERE p = 0 AND c1 = 1" % KS)  # a clustering prefix
        self.assertEqual([r for r in rows(0) if r[0] == 1], [])
        s.execute("DELETE FROM %s.del WHERE p = 1 AND c1 = 0 AND c2 > 0" % KS)  # a range
        s.execute("DELETE FROM %s.del WHERE p = 1 AND c1 >= 2" % KS)  # an open range
        self.assertEqual(rows(1), [(0, 0), (1, 0), (1, 1), (1, 2)])
        s.execute("DELETE FROM %s.del WHERE p = 1 AND c1 = 1 AND c2 IN (0, 2)" % KS)  # IN on the last
        self.assertEqual(rows(1), [(0, 0), (1, 1)])
        s.execute("DELETE FROM %s.del WHERE p = 2" % KS)  # a partition
        self.assertEqual(rows(2), [])
        s.execute("DELETE FROM %s.del USING TIMESTAMP 1 WHERE p = 0" % KS)  # older than the data: no effect
        self.assertTrue(rows(0))
        s.execute("DELETE FROM %s.del WHERE p IN (0, 1)" % KS)  # IN on the partition key
        self.assertEqual(rows(0) + rows(1), [])
        prep = s.prepare("DELETE w FROM %s.del WHERE p = ? AND c1 = ? AND c2 = ?" % KS)
        fill()
        s.execute(prep, (2, 1, 1))
        self.assertIsNone(s.execute("SELECT w FROM %s.del WHERE p = 2 AND c1 = 1 AND c2 = 1" % KS).one().w)
        with self.assertRaises(InvalidRequest):
            s.execute("DELETE v FROM %s.del WHERE p = 2 AND c1 > 0" % KS)  # range + columns

    # ---- TTL, writetime -----------------------------------------------------------------

    def test_ttl_and_writetime(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.ttl (k int PRIMARY KEY, v text, w text)" % KS)
        s.execute("INSERT INTO %s.ttl (k, v, w) VALUES (1, 'a', 'b') USING TTL 1000 AND TIMESTAMP 123456" % KS)
        r = s.execute("SELECT ttl(v), writetime(v), writetime(w) FROM %s.ttl WHERE k = 1" % KS).one()
        self.assertTrue(990 <= r[0] <= 1000, r[0])
        self.assertEqual((r[1], r[2]), (123456, 123456))
        s.execute("UPDATE %s.ttl USING TTL 1 SET w = 'short' WHERE k = 2" % KS)
        self.assertEqual(s.execute("SELECT w FROM %s.ttl WHERE k = 2" % KS).one().w, "short")
        time.sleep(2.1)
        self.assertIsNone(s.execute("SELECT w FROM %s.ttl WHERE k = 2" % KS).one())
        ins = s.prepare("INSERT INTO %s.ttl (k, v) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?" % KS)
        s.execute(ins, (3, "p", 500, 777))
        r = s.execute("SELECT ttl(v), writetime(v) FROM %s.ttl WHERE k = 3" % KS).one()
        self.assertTrue(0 < r[0] <= 500)
        self.assertEqual(r[1], 777)
        self.assertIsNone(s.execute("SELECT ttl(w) FROM %s.ttl WHERE k = 3" % KS).one()[0])
        s.execute("CREATE TABLE IF NOT EXISTS %s.dttl (k int PRIMARY KEY, v int) WITH default_time_to_live = 300" % KS)
        s.execute("INSERT INTO %s.dttl (k, v) VALUES (1, 1)" % KS)
        self.assertTrue(0 < s.execute("SELECT ttl(v) FROM %s.dttl WHERE k = 1" % KS).one()[0] <= 300)

    # ---- SELECT forms --------------------------------------------------------------------

    def _sel_table(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.sel (p int, c int, v int, f text, PRIMARY KEY (p, c))" % KS)
        if s.execute("SELECT COUNT(*) FROM %s.sel" % KS).one()[0] == 0:
            ins = s.prepare("INSERT INTO %s.sel (p, c, v, f) VALUES (?, ?, ?, ?)" % KS)
            for p in range(10):
                for c in range(10):
                    s.execute(ins, (p, c, p * 100 + c, "even" if c % 2 == 0 else "odd"))
        return s

    def test_in_order_limit(self):
        s = self._sel_table()
        rows = s.execute("SELECT p, c FROM %s.sel WHERE p IN (3, 1, 3) AND c = 2" % KS)
        self.assertEqual(sorted((r.p, r.c) for r in rows), [(1, 2), (3, 2)])
        prep = s.prepare("SELECT p FROM %s.sel WHERE p IN ? AND c = 0" % KS)
        self.assertEqual(sorted(r.p for r in s.execute(prep, ([4, 5, 6],))), [4, 5, 6])
        rows = s.execute("SELECT c FROM %s.sel WHERE p = 4 ORDER BY c DESC" % KS)
        self.assertEqual([r.c for r in rows], list(range(9, -1, -1)))
        rows = s.execute("SELECT c FROM %s.sel WHERE p = 4 AND c > 2 AND c <= 6 ORDER BY c DESC LIMIT 3" % KS)
        self.assertEqual([r.c for r in rows], [6, 5, 4])
        rows = s.execute(SimpleStatement("SELECT c FROM %s.sel WHERE p = 4 ORDER BY c DESC" % KS, fetch_size=3))
        self.assertEqual([r.c for r in rows], list(range(9, -1, -1)))
        self.assertEqual(len(list(s.execute("SELECT * FROM %s.sel LIMIT 17" % KS))), 17)
        rows = list(s.execute("SELECT p, c FROM %s.sel PER PARTITION LIMIT 2" % KS))
        self.assertEqual(len(rows), 20)
        self.assertTrue(all(r.c < 2 for r in rows))
        rows = list(s.execute("SELECT p, c FROM %s.sel PER PARTITION LIMIT 2 LIMIT 5" % KS))
        self.assertEqual(len(rows), 5)
        rows = list(s.execute(SimpleStatement("SELECT p, c FROM %s.sel PER PARTITION LIMIT 3" % KS, fetch_size=4)))
        self.assertEqual(len(rows), 30)
        self.assertEqual(sorted(r.p for r in s.execute("SELECT DISTINCT p FROM %s.sel" % KS)), list(range(10)))
        with self.assertRaises(InvalidRequest):
            s.execute("SELECT c FROM %s.sel WHERE p = 1 ORDER BY v DESC" % KS)

    def test_token_ranges(self):
        s = self._sel_table()
        toks = {r.p: r[1] for r in s.execute("SELECT p, token(p) FROM %s.sel WHERE c = 0 ALLOW FILTERING" % KS)}
        self.assertEqual(len(toks), 10)
        ordered = sorted(toks, key=lambda p: toks[p])
        # every partition once, in token order, through token ranges
        all_rows = list(s.execute("SELECT p, token(p) FROM %s.sel WHERE token(p) >= -9223372036854775808 "
                                  "PER PARTITION LIMIT 1" % KS))
        self.assertEqual([r.p for r in all_rows], ordered)
        mid = toks[ordered[4]]
        lo = [r.p for r in s.execute("SELECT DISTINCT p FROM %s.sel WHERE token(p) <= %d" % (KS, mid))]
        hi = [r.p for r in s.execute("SELECT DISTINCT p FROM %s.sel WHERE token(p) > %d" % (KS, mid))]
        self.assertEqual(lo, ordered[:5])
        self.assertEqual(hi, ordered[5:])
        prep = s.prepare("SELECT DISTINCT p FROM %s.sel WHERE token(p) > ? AND token(p) <= ?" % KS)
        self.assertEqual([r.p for r in s.execute(prep, (toks[ordered[1]], toks[ordered[3]]))], ordered[2:4])
        self.assertEqual([r.p for r in s.execute("SELECT DISTINCT p FROM %s.sel WHERE token(p) = token(%d)"
                                                  % (KS, ordered[7]))], [ordered[7]])

    def test_allow_filtering(self):
        s = self._sel_table()
        for q in ("SELECT * FROM %s.sel WHERE v = 305" % KS,
                  "SELECT * FROM %s.sel WHERE c = 3" % KS,
                  "SELECT * FROM %s.sel WHERE p = 3 AND f = 'odd'" % KS):
            with self.assertRaises(InvalidRequest) as ctx:
                s.execute(q)
            self.assertIn("ALLOW FILTERING", str(ctx.exception))
        r = list(s.execute("SELECT p, c FROM %s.sel WHERE v = 305 ALLOW FILTERING" % KS))
        self.assertEqual([(x.p, x.c) for x in r], [(3, 5)])
        r = list(s.execute("SELECT p FROM %s.sel WHERE c = 3 ALLOW FILTERING" % KS))
        self.assertEqual(len(r), 10)
        r = list(s.execute("SELECT c FROM %s.sel WHERE p = 3 AND f = 'odd' ALLOW FILTERING" % KS))
        self.assertEqual([x.c for x in r], [1, 3, 5, 7, 9])
        r = list(s.execute(SimpleStatement("SELECT p, c FROM %s.sel WHERE v > 850 AND f = 'even' ALLOW FILTERING"
                                           % KS, fetch_size=2)))
        self.assertEqual(sorted((x.p, x.c) for x in r),
                         [(p, c) for p in range(10) for c in range(10) if p * 100 + c > 850 and c % 2 == 0])
        prep = s.prepare("SELECT p FROM %s.sel WHERE v = ? ALLOW FILTERING" % KS)
        self.assertEqual([x.p for x in s.execute(prep, (901,))], [9])

    # ---- a logged batch across tables (the batch log) --------------------------------------

    def test_logged_batch_across_tables(self):
        s = self.s
        s.execute("CREATE TABLE IF NOT EXISTS %s.acct (id text PRIMARY KEY, bal int)" % KS)
        s.execute("CREATE TABLE IF NOT EXISTS %s.ledger (id text, seq int, amt int, PRIMARY KEY (id, seq))" % KS)
        a = s.prepare("UPDATE %s.acct SET bal = ? WHERE id = ?" % KS)
        l = s.prepare("INSERT INTO %s.ledger (id, seq, amt) VALUES (?, ?, ?)" % KS)
        for i in range(20):
            b = BatchStatement(batch_type=BatchType.LOGGED)
            b.add(a, (i * 10, "ada"))
            b.add(l, ("ada", i, 10))
            b.add(SimpleStatement("DELETE FROM %s.ledger WHERE id = 'ada' AND seq = %d" % (KS, i - 5)))
            s.execute(b)
        self.assertEqual(s.execute("SELECT bal FROM %s.acct WHERE id = 'ada'" % KS).one().bal, 190)
        self.assertEqual([r.seq for r in s.execute("SELECT seq FROM %s.ledger WHERE id = 'ada'" % KS)],
                         list(range(15, 20)))
        self.assertEqual(os.listdir(os.path.join(self.d.data, "batchlog")), [])


def _concurrent(session, args, concurrency=16):
    """Runs prepared batches concurrently (each arg is (statement,))."""
    futures = []
    out = []
    for (stmt,) in args:
        futures.append(session.execute_async(stmt))
        if len(futures) >= concurrency:
            f = futures.pop(0)
            try:
                f.result()
                out.append((True, None))
            except Exception as e:  # noqa: BLE001
                out.append((False, e))
    for f in futures:
        try:
            f.result()
            out.append((True, None))
        except Exception as e:  # noqa: BLE001
            out.append((False, e))
    return out


def _wait(pred, timeout=15):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for the schema change")
        time.sleep(0.05)


def _norm(v):
    """Driver values in a comparable form."""
    if isinstance(v, Date):
        return v.date()
    if isinstance(v, Time):
        return v.time()
    if isinstance(v, (SortedSet, set, frozenset)):
        return frozenset(_norm(x) for x in v)
    if isinstance(v, (OrderedMapSerializedKey, dict)):
        return {_norm(k): _norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if isinstance(v, float) and v == 0.0:
        return (0.0, str(v))  # keeps -0.0 apart from 0.0
    if isinstance(v, str):
        try:
            return ipaddress.ip_address(v)
        except ValueError:
            return v
    return v


if __name__ == "__main__":
    unittest.main(verbosity=2)
