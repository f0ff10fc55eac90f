#!/usr/bin/python3
"""cofferd against a separate coffer-kms (--kms URL --kms-credentials FILE),
driven by the DataStax Python driver and the AWS CLI.

A coffer-kms gets its own data directory and a free port; the coffer-service
principal's credentials are created with `coffer-kms principal create
coffer-service` before its first start (the store has one writer), and the
daemon creates the coffer service key at start. cofferd then runs with no KMS
of its own: tables on the service key and on a customer managed key (created
and aliased by the admin with the AWS CLI) take writes and reads, a restart of
cofferd finds every row, a restart of the KMS under a running cofferd is
invisible to clients, cofferd refuses plaintext HTTP to a non-loopback KMS,
and with the KMS down cofferd starts anyway, refusing logins with an error
naming the KMS, and serves its data by itself once the KMS is back.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cofferd_fixture import BUILD, PASSWORD, SERVICE_ARN, Cofferd, cluster, cmk_policy  # noqa: E402
from test_kms_api import KmsServer  # noqa: E402


class RemoteKmsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kms = KmsServer()
        cls.creds, text = cls.kms.principal_create("coffer-service")
        assert SERVICE_ARN in text
        cls.kms.start()
        cls.cofferd = None

    @classmethod
    def tearDownClass(cls):
        if cls.cofferd:
            cls.cofferd.cleanup()
        cls.kms.cleanup()

    def remote_args(self, url=None):
        return ["--kms", url or self.kms.url, "--kms-credentials", self.creds]

    def run_cofferd_expect_failure(self, data, args, timeout=60):
        env = dict(os.environ, COFFER_SUPERUSER_PASSWORD=PASSWORD)
        t0 = time.time()
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "--data", data, "--listen", "127.0.0.1:0",
                            "--log-level", "warn", *args],
                           capture_output=True, text=True, timeout=timeout, env=env)
        return r, time.time() - t0

    def query_rows(self, port, cql):
        c = cluster(port)
        try:
            s = c.connect()
            return list(s.execute(cql))
        finally:
            c.shutdown()

    def test_remote_kms(self):
        # The daemon created the service key at start and said so.
        self.assertIn("coffer service key: arn:aws:kms:local:000000000000:key/",
                      self.kms.stderr_text())

        # A customer managed key for one table, made by the admin.
        key = self.kms.cli("create-key", "--description", "orders", "--policy", cmk_policy())
        key_arn = key["KeyMetadata"]["Arn"]
        self.kms.cli("create-alias", "--alias-name", "alias/orders", "--target-key-id", key_arn)

        d = Cofferd(extra=self.remote_args())
        type(self).cofferd = d
        d.start()
        self.assertIsNone(d.kms_url)  # no KMS API of its own
        self.assertFalse(os.path.exists(os.path.join(d.data, "kms")), "no embedded KMS on disk")

        c = cluster(d.port)
        s = c.connect()
        s.execute("CREATE KEYSPACE app WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}")
        s.execute("CREATE TABLE app.users (id int PRIMARY KEY, name text)")
        s.execute("CREATE TABLE app.orders (id int PRIMARY KEY, item text) WITH CUSTOM_PROPERTIES = "
                  "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
                  "'kms_key_identifier': 'alias/orders'}}")
        for i in range(50):
            s.execute("INSERT INTO app.users (id, name) VALUES (%s, %s)", (i, "user-%d" % i))
            s.execute("INSERT INTO app.orders (id, item) VALUES (%s, %s)", (i, "item-%d" % i))
        self.assertEqual(len(list(s.execute("SELECT * FROM app.users"))), 50)
        rows = list(s.execute("SELECT status, custom_properties FROM system_schema_mcs.tables "
                              "WHERE keyspace_name = 'app' AND table_name = 'orders'"))
        self.assertEqual(rows[0].status, "ACTIVE")
        self.assertEqual(rows[0].custom_properties["encryption_specification"]["kms_key_identifier"],
                         key_arn)

        # The KMS restarts under a running cofferd (same port): clients see nothing.
        port = self.kms.port
        self.kms.stop()
        self.kms.start(listen="127.0.0.1:%d" % port)
        s.execute("INSERT INTO app.users (id, name) VALUES (%s, %s)", (50, "after-kms-restart"))
        self.assertEqual(len(list(s.execute("SELECT * FROM app.users"))), 51)
        c.shutdown()

        # The KMS saw the customer key used by coffer-service.
        grants = self.kms.cli("list-grants", "--key-id", key_arn)
        self.assertIsInstance(grants["Grants"], list)

        # cofferd restarts: every row is there, unlocked through the remote KMS.
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(len(self.query_rows(d.port, "SELECT * FROM app.users")), 51)
        rows = self.query_rows(d.port, "SELECT item FROM app.orders WHERE id = 7")
        self.assertEqual(rows[0].item, "item-7")
        self.assertEqual(d.stop(), 0)

        # The KMS is down: cofferd starts anyway (DESIGN rule 7), says so, and
        # refuses logins with a retryable error naming the KMS.
        from cassandra.cluster import NoHostAvailable
        self.kms.stop()
        d.start()
        c = cluster(d.port)
        with self.assertRaises(NoHostAvailable) as cm:
            c.connect()
        c.shutdown()
        self.assertIn("cannot unlock its catalog: the KMS at %s" % self.kms.url, str(cm.exception))

        # Back again: cofferd unlocks by itself and serves all its data.
        self.kms.start(listen="127.0.0.1:%d" % port)
        deadline = time.time() + 60
        while True:
            try:
                rows = self.query_rows(d.port, "SELECT * FROM app.users")
                break
            except NoHostAvailable:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        self.assertEqual(len(rows), 51)
        self.assertEqual(len(self.query_rows(d.port, "SELECT * FROM app.orders")), 50)
        self.assertEqual(d.stop(), 0)

    def test_refusals(self):
        tmp = os.path.join(self.kms.dir, "refusals")
        # plaintext HTTP to a non-loopback KMS
        r, _ = self.run_cofferd_expect_failure(tmp, self.remote_args("http://192.0.2.10:9000"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("refusing plaintext HTTP", r.stderr)
        # a URL without credentials
        r, _ = self.run_cofferd_expect_failure(tmp, ["--kms", self.kms.url])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--kms-credentials", r.stderr)
        # the admin's credentials see no coffer service key
        r, _ = self.run_cofferd_expect_failure(
            tmp, ["--kms", self.kms.url, "--kms-credentials", self.kms.admin_creds])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no coffer service key", r.stderr)
        # and no secret ever reaches the output
        with open(self.creds) as f:
            secret = [ln.split("=", 1)[1].strip() for ln in f if "aws_secret_access_key" in ln][0]
        self.assertNotIn(secret, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
