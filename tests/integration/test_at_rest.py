"""Nothing written through CQL is on disk in plaintext: partition keys,
clustering keys and values (unique canaries) are absent from every file under
cofferd's data directory after a clean stop (memtables flushed to SSTables)
and after a crash (commit log only), and so are the names of user keyspaces,
tables and columns in the catalog and the storage files."""
import base64
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import Cofferd, cluster  # noqa: E402


def scan(root, needles):
    hits = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                data = fh.read()
            for n in needles:
                if n in data:
                    hits.append((p, n))
    return hits


class AtRestTest(unittest.TestCase):
    def run_case(self, crash):
        d = Cofferd().start()
        try:
            tag = uuid.uuid4().hex[:12]
            ks, tab, col = "ks" + tag, "tab" + tag, "col" + tag
            c = cluster(d.port)
            s = c.connect()
            s.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SingleRegionStrategy'}" % ks)
            s.execute("CREATE TABLE %s.%s (pk text, ck text, %s text, PRIMARY KEY (pk, ck))" % (ks, tab, col))
            canaries = []
            ins = s.prepare("INSERT INTO %s.%s (pk, ck, %s) VALUES (?, ?, ?)" % (ks, tab, col))
            for i in range(200):
                pk, ck, v = "PK-%s-%d" % (tag, i), "CK-%s-%d" % (tag, i), "VALUE-%s-%d" % (tag, i)
                s.execute(ins, (pk, ck, v))
                canaries += [pk, ck, v]
            c.shutdown()
            if crash:
                d.kill()
            else:
                self.assertEqual(d.stop(), 0)
            needles = []
            for x in canaries[:30] + canaries[-30:]:
                b = x.encode()
                needles += [b, base64.b64encode(b)[:16]]
            needles += [col.encode()]
            hits = scan(d.data, needles)
            self.assertEqual(hits, [], "plaintext found at rest")
            # Names are not in file contents either, except the KMS audit log,
            # which records encryption contexts (not secret, as in AWS KMS).
            name_hits = [h for h in scan(d.data, [ks.encode(), tab.encode()])
                         if not h[0].endswith("audit.log")]
            self.assertEqual(name_hits, [])
            # Nor in file or directory names: tables live under their ids.
            paths = [os.path.join(dp, n) for dp, dns, fns in os.walk(d.data) for n in dns + fns]
            self.assertEqual([p for p in paths if ks in p or tab in p], [])
            # And the data is still there.
            d.start()
            c = cluster(d.port)
            s = c.connect()
            rows = list(s.execute("SELECT %s FROM %s.%s" % (col, ks, tab)))
            self.assertEqual(len(rows), 200)
            c.shutdown()
        finally:
            d.cleanup()

    def test_after_clean_stop(self):
        self.run_case(crash=False)

    def test_after_crash(self):
        self.run_case(crash=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
