"""Customer managed keys end to end (issue 6): a key made with the AWS CLI
against cofferd's embedded KMS, a table created on it through the Python
driver, the key disabled -> within the cache idle period plus the check
interval the table is INACCESSIBLE_ENCRYPTION_CREDENTIALS, its reads and
writes fail naming table, key and reason, other tables work, the event is a
row of system_coffer.events, a POST to the webhook and a run of the notify
command; the key enabled -> ACTIVE again by itself, data intact; DROP TABLE
retires the table's operations grant at once and keeps the backup grant."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import Cofferd, cluster  # noqa: E402

AWS = "/usr/bin/aws"
INACC = "INACCESSIBLE_ENCRYPTION_CREDENTIALS"


class Hook(http.server.BaseHTTPRequestHandler):
    events = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        Hook.events.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(pred, timeout=20.0, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class CmkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()
        hook = "http://127.0.0.1:%d/coffer-events" % cls.httpd.server_address[1]
        cls.d = Cofferd(extra=["--key-cache-idle", "1s", "--key-check-interval", "1s",
                               "--notify-webhook", hook, "--notify-command", "true"])
        cls.cmd_out = os.path.join(os.path.dirname(cls.d.data), "notify.txt")
        cls.d.extra[-1] = ('printf "%%s %%s.%%s %%s\\n" "$COFFER_EVENT" "$COFFER_KEYSPACE" '
                           '"$COFFER_TABLE" "$COFFER_KMS_KEY" >> %s' % cls.cmd_out)
        cls.d.start()
        cls.c = cluster(cls.d.port)
        cls.s = cls.c.connect()

    @classmethod
    def tearDownClass(cls):
        cls.c.shutdown()
        cls.d.cleanup()
        cls.httpd.shutdown()

    def aws(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.d.data, "kms", "admin.credentials"),
            "AWS_REGION": "local",
            "AWS_DEFAULT_REGION": "local",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })
        r = subprocess.run([AWS, "--endpoint-url", self.d.kms_url, "--output", "json", "kms", *args],
                           env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("aws kms %s: %s" % (" ".join(args), r.stderr))
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def status(self, table):
        r = self.s.execute("SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'cmk' "
                           "AND table_name = %s", (table,))
        return r.one().status

    def grants(self, key):
        return self.aws("list-grants", "--key-id", key)["Grants"]

    def test_lose_and_regain_access(self):
        from cassandra import InvalidRequest
        key = self.aws("create-key", "--description", "coffer cmk test")["KeyMetadata"]["Arn"]
        s = self.s
        s.execute("CREATE KEYSPACE cmk WITH replication = {'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE cmk.t (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
                  "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
                  "'kms_key_identifier': '%s'}}" % key)
        s.execute("CREATE TABLE cmk.own (k int PRIMARY KEY, v text)")
        for i in range(20):
            s.execute("INSERT INTO cmk.t (k, v) VALUES (%s, %s)", (i, "v%d" % i))
        s.execute("INSERT INTO cmk.own (k, v) VALUES (1, 'x')")
        self.assertEqual(self.status("t"), "ACTIVE")
        # The key's default policy lets coffer only describe it and create
        # grants: the table runs on its two grants.
        names = sorted(g.get("Name", "") for g in self.grants(key))
        self.assertEqual(len(names), 2)
        self.assertTrue(names[0].endswith("-backup") and names[1].endswith("-ops"), names)

        self.aws("disable-key", "--key-id", key)
        self.assertEqual(wait_for(lambda: self.status("t") == INACC and INACC), INACC)
        self.assertEqual(self.status("own"), "ACTIVE")
        for q in ("SELECT * FROM cmk.t", "INSERT INTO cmk.t (k, v) VALUES (99, 'no')"):
            with self.assertRaises(InvalidRequest) as cm:
                s.execute(q)
            msg = str(cm.exception)
            self.assertIn("cmk.t", msg)
            self.assertIn(key, msg)
            self.assertIn("disabled", msg)
        self.assertEqual(s.execute("SELECT v FROM cmk.own WHERE k = 1").one().v, "x")
        s.execute("INSERT INTO cmk.own (k, v) VALUES (2, 'y')")
        rows = list(s.execute("SELECT * FROM system_coffer.events"))
        self.assertEqual([(r.keyspace_name, r.table_name, r.event, r.kms_key) for r in rows],
                         [("cmk", "t", INACC, key)])
        self.assertIn("DisabledException", rows[0].reason)
        ev = wait_for(lambda: [e for e in Hook.events if e["event"] == INACC])
        self.assertEqual((ev[0]["keyspace"], ev[0]["table"], ev[0]["kms_key"]), ("cmk", "t", key))
        self.assertTrue(wait_for(lambda: os.path.exists(self.cmd_out)))
        with open(self.cmd_out) as f:
            self.assertIn("%s cmk.t %s" % (INACC, key), f.read())

        self.aws("enable-key", "--key-id", key)
        self.assertEqual(wait_for(lambda: self.status("t") == "ACTIVE" and "ACTIVE"), "ACTIVE")
        got = {r.k: r.v for r in s.execute("SELECT k, v FROM cmk.t")}
        self.assertEqual(got, {i: "v%d" % i for i in range(20)})
        s.execute("INSERT INTO cmk.t (k, v) VALUES (20, 'v20')")
        self.assertTrue(wait_for(lambda: [e for e in Hook.events if e["event"] == "ACTIVE"]))
        events = [r.event for r in s.execute("SELECT event FROM system_coffer.events")]
        self.assertEqual(events, [INACC, "ACTIVE"])

        # DROP TABLE: the operations grant goes now, the backup grant stays.
        s.execute("DROP TABLE cmk.t")
        names = [g.get("Name", "") for g in self.grants(key)]
        self.assertEqual(len(names), 1)
        self.assertTrue(names[0].endswith("-backup"), names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
