"""cofferd driven by the DataStax Python driver (python3-cassandra, /usr/bin/python3):
authenticated connect and a wrong password refused, schema metadata, DDL,
DML and SELECT, prepared statements, paging, batches, conditional updates,
and data intact across a restart."""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import Cofferd, cluster  # noqa: E402

from cassandra import AuthenticationFailed, InvalidRequest  # noqa: E402
from cassandra.cluster import NoHostAvailable  # noqa: E402
from cassandra.query import BatchStatement, SimpleStatement  # noqa: E402


class PythonDriverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Cofferd().start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def session(self):
        c = cluster(self.d.port)
        self.addCleanup(c.shutdown)
        return c.connect()

    def test_wrong_password_refused(self):
        c = cluster(self.d.port, password="not-the-password")
        self.addCleanup(c.shutdown)
        with self.assertRaises(NoHostAvailable) as ctx:
            c.connect()
        errors = list(ctx.exception.errors.values())
        self.assertTrue(any(isinstance(e, AuthenticationFailed) for e in errors), errors)
        self.assertIn("Provided username coffer and/or password are incorrect", str(errors))

    def test_schema_dml_and_metadata(self):
        s = self.session()
        s.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = "
                  "{'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE IF NOT EXISTS shop.orders (customer text, placed timestamp, "
                  "id uuid, total decimal, items list<text>, PRIMARY KEY ((customer), placed, id)) "
                  "WITH CLUSTERING ORDER BY (placed DESC, id ASC)")
        meta = s.cluster.metadata
        s.cluster.refresh_schema_metadata()
        self.assertIn("shop", meta.keyspaces)
        t = meta.keyspaces["shop"].tables["orders"]
        self.assertEqual([c.name for c in t.partition_key], ["customer"])
        self.assertEqual([c.name for c in t.clustering_key], ["placed", "id"])
        self.assertEqual(t.columns["items"].cql_type, "list<text>")
        oid = uuid.uuid4()
        s.execute("INSERT INTO shop.orders (customer, placed, id, total, items) VALUES "
                  "('ada', '2026-01-02T03:04:05Z', %s, 12.50, ['tea', 'cake'])" % oid)
        row = s.execute("SELECT id, items FROM shop.orders WHERE customer = 'ada'").one()
        self.assertEqual(row.id, oid)
        self.assertEqual(row.items, ["tea", "cake"])

    def test_prepared_and_paging(self):
        s = self.session()
        s.execute("CREATE KEYSPACE IF NOT EXISTS pg WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}")
        s.execute("CREATE TABLE IF NOT EXISTS pg.t (p int, c int, v text, PRIMARY KEY (p, c))")
        ins = s.prepare("INSERT INTO pg.t (p, c, v) VALUES (?, ?, ?)")
        for i in range(2000):
            s.execute(ins, (i % 7, i, "v%d" % i))
        rows = list(s.execute(SimpleStatement("SELECT p, c FROM pg.t", fetch_size=300)))
        self.assertEqual(len(rows), 2000)
        self.assertEqual(len({(r.p, r.c) for r in rows}), 2000)
        sel = s.prepare("SELECT v FROM pg.t WHERE p = ? AND c = ?")
        self.assertEqual(s.execute(sel, (3, 3)).one().v, "v3")

    def test_batch_and_conditions(self):
        s = self.session()
        s.execute("CREATE KEYSPACE IF NOT EXISTS bt WITH replication = {'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE IF NOT EXISTS bt.acct (id text PRIMARY KEY, balance int)")
        ins = s.prepare("INSERT INTO bt.acct (id, balance) VALUES (?, ?)")
        b = BatchStatement()
        b.add(ins, ("a", 10))
        b.add(ins, ("b", 20))
        s.execute(b)
        self.assertEqual(s.execute("SELECT balance FROM bt.acct WHERE id = 'b'").one().balance, 20)
        r = s.execute("INSERT INTO bt.acct (id, balance) VALUES ('a', 99) IF NOT EXISTS").one()
        self.assertFalse(r[0])
        r = s.execute("UPDATE bt.acct SET balance = 11 WHERE id = 'a' IF balance = 10").one()
        self.assertTrue(r[0])

    def test_bad_cql_and_wrong_types(self):
        s = self.session()
        with self.assertRaises(Exception) as ctx:
            s.execute("SELEC * FROM nowhere")
        self.assertIn("SELEC", str(ctx.exception))
        with self.assertRaises(InvalidRequest) as ctx:
            s.execute("SELECT * FROM nosuchks.nosuchtable")
        s.execute("CREATE KEYSPACE IF NOT EXISTS ty WITH replication = {'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE IF NOT EXISTS ty.t (id int PRIMARY KEY, age int)")
        with self.assertRaises(InvalidRequest) as ctx:
            s.execute("INSERT INTO ty.t (id, age) VALUES (1, 'old')")
        self.assertIn("age", str(ctx.exception))

    def test_restart_keeps_data(self):
        d = Cofferd().start()
        try:
            c = cluster(d.port)
            s = c.connect()
            s.execute("CREATE KEYSPACE rs WITH replication = {'class': 'SingleRegionStrategy'}")
            s.execute("CREATE TABLE rs.t (k int PRIMARY KEY, v text)")
            for i in range(100):
                s.execute("INSERT INTO rs.t (k, v) VALUES (%d, 'x%d')" % (i, i))
            c.shutdown()
            self.assertEqual(d.stop(), 0)
            d.start()
            c = cluster(d.port)
            s = c.connect()
            self.assertEqual(s.execute("SELECT v FROM rs.t WHERE k = 42").one().v, "x42")
            self.assertEqual(len(list(s.execute("SELECT k FROM rs.t"))), 100)
            c.shutdown()
            # A crash (SIGKILL) loses nothing acknowledged either.
            c = cluster(d.port)
            s = c.connect()
            s.execute("INSERT INTO rs.t (k, v) VALUES (1000, 'acked')")
            c.shutdown()
            d.kill()
            d.start()
            c = cluster(d.port)
            s = c.connect()
            self.assertEqual(s.execute("SELECT v FROM rs.t WHERE k = 1000").one().v, "acked")
            c.shutdown()
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
