"""Customer managed keys end to end (issue 6), through the Python driver and
the AWS CLI, once with cofferd's embedded KMS and once with a standalone
coffer-kms (`cofferd --kms URL`), settings shortened to seconds:

- a key disabled -> within the cache idle period plus the check interval the
  table is INACCESSIBLE_ENCRYPTION_CREDENTIALS, its reads and writes fail
  naming table, key and reason, other tables work, the event is a row of
  system_coffer.events, a POST to the webhook and a run of the notify
  command; enabled -> ACTIVE by itself, data intact; DROP TABLE retires the
  operations grant at once and keeps the backup grant;
- every other way of losing access (deletion scheduled, coffer's grants
  revoked, a key policy denying coffer), noticed while a reader keeps the
  table busy (its key never leaves the cache), and restored;
- ALTER TABLE moving a table between keys while a writer keeps writing:
  grants created on the new key, retired on the old one, no write lost;
- CREATE TABLE refused on a bad key raises an event;
- KMS calls counted per table in system_coffer.kms_calls and the metrics
  endpoint: many operations cost at most one Decrypt per idle period;
- the grace period's expiry: backup taken, table deleted, each notified,
  then RESTORE TABLE once the key is back;
- (standalone KMS) cofferd started while the KMS is down comes up, refuses
  requests with a retryable error naming the KMS, and serves by itself once
  the KMS is back; a throttling KMS reaches clients only as retryable errors.
"""
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cofferd_fixture import Cofferd, cluster, free_port  # noqa: E402
from test_kms_api import KmsServer  # noqa: E402

AWS = "/usr/bin/aws"
INACC = "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
SERVICE_ARN = "arn:aws:iam::000000000000:user/coffer-service"
# The idle period is longer than the hot path's cache-touch interval (1 s), so
# a busy table's key really stays cached: only the health check's
# re-validation can then notice a revoked grant or a denying policy.
IDLE_S = 3.0
SETTINGS = ["--key-cache-idle", "3s", "--key-check-interval", "1s"]


class Hook(http.server.BaseHTTPRequestHandler):
    events = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Hook.events.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(pred, timeout=30.0, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def boto3_kms(url, creds_file):
    """The KMS admin's boto3 client: most KMS calls go through it (an AWS
    CLI run costs a second of start-up); the CLI is used where the docs'
    commands are checked."""
    import configparser
    import boto3
    cp = configparser.ConfigParser()
    cp.read(creds_file)
    prof = cp["default"]
    return boto3.client("kms", endpoint_url=url, region_name="local",
                        aws_access_key_id=prof["aws_access_key_id"],
                        aws_secret_access_key=prof["aws_secret_access_key"],
                        config=__import__("botocore.config").config.Config(retries={"max_attempts": 1}))


def cmk(key):
    return ("{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
            "'kms_key_identifier': '%s'}}" % key)


class Busy(threading.Thread):
    """Keeps a table busy (reads, or writes of fresh keys) until stopped;
    records what it wrote and the errors it saw."""

    def __init__(self, session, table, write=False):
        super().__init__(daemon=True)
        self.s, self.table, self.write = session, table, write
        self.stop_ev = threading.Event()
        self.written, self.errors, self.n = [], [], 0

    def run(self):
        while not self.stop_ev.is_set():
            try:
                if self.write:
                    k = 100000 + self.n
                    self.s.execute("INSERT INTO %s (k, v) VALUES (%%s, %%s)" % self.table, (k, "w%d" % k))
                    self.written.append(k)
                else:
                    self.s.execute("SELECT v FROM %s WHERE k = 1" % self.table)
            except Exception as e:  # noqa: BLE001 - recorded for the test
                self.errors.append(str(e))
            self.n += 1
            time.sleep(0.01)

    def stop(self):
        self.stop_ev.set()
        self.join(30)


class CmkServer:
    """One cofferd (embedded KMS, or a standalone coffer-kms when REMOTE),
    a webhook, a notify command, and the helpers the tests use."""
    REMOTE = False
    EXTRA_SETTINGS = []

    @classmethod
    def setUpClass(cls):
        Hook.events = []
        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()
        hook = "http://127.0.0.1:%d/coffer-events" % cls.httpd.server_address[1]
        cls.kms = None
        cls.metrics_url = "http://127.0.0.1:%d/metrics" % free_port()
        extra = list(SETTINGS) + list(cls.EXTRA_SETTINGS) + ["--notify-webhook", hook, "--notify-command", "true",
                                  "--metrics-listen", cls.metrics_url[7:-8]]
        if cls.REMOTE:
            cls.kms = KmsServer()
            cls.creds, _ = cls.kms.principal_create("coffer-service")
            cls.kms.start()
            extra += ["--kms", cls.kms.url, "--kms-credentials", cls.creds]
        cls.d = Cofferd(extra=extra)
        cls.cmd_out = os.path.join(os.path.dirname(cls.d.data), "notify.txt")
        i = cls.d.extra.index("--notify-command") + 1
        cls.d.extra[i] = ('printf "%%s %%s.%%s %%s\\n" "$COFFER_EVENT" "$COFFER_KEYSPACE" '
                          '"$COFFER_TABLE" "$COFFER_KMS_KEY" >> %s' % cls.cmd_out)
        cls.d.start()
        if cls.REMOTE:
            cls.kms_url, cls.admin_creds = cls.kms.url, cls.kms.admin_creds
        else:
            cls.kms_url = cls.d.kms_url
            cls.admin_creds = os.path.join(cls.d.data, "kms", "admin.credentials")
        cls.kmsc = boto3_kms(cls.kms_url, cls.admin_creds)
        cls.c = cluster(cls.d.port)
        cls.s = cls.c.connect()
        cls.s.execute("CREATE KEYSPACE cmk WITH replication = {'class': 'SingleRegionStrategy'}")

    @classmethod
    def tearDownClass(cls):
        cls.c.shutdown()
        cls.d.cleanup()
        if cls.kms:
            cls.kms.cleanup()
        cls.httpd.shutdown()
        cls.httpd.server_close()

    # ---- helpers ----

    def aws(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_SHARED_CREDENTIALS_FILE": self.admin_creds,
            "AWS_REGION": "local", "AWS_DEFAULT_REGION": "local",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": "",
        })
        r = subprocess.run([AWS, "--endpoint-url", self.kms_url, "--output", "json", "kms", *args],
                           env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            if check:
                raise AssertionError("aws kms %s: %s" % (" ".join(args), r.stderr))
            return r
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def new_key(self, desc):
        return self.kmsc.create_key(Description=desc)["KeyMetadata"]["Arn"]

    def status(self, table):
        r = self.s.execute("SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'cmk' "
                           "AND table_name = %s", (table,))
        return r.one().status

    def key_of(self, table):
        r = self.s.execute("SELECT custom_properties FROM system_schema_mcs.tables WHERE "
                           "keyspace_name = 'cmk' AND table_name = %s", (table,)).one()
        return r.custom_properties["encryption_specification"]

    def grants(self, key):
        return self.kmsc.list_grants(KeyId=key)["Grants"]

    def events(self, table):
        return [r for r in self.s.execute("SELECT * FROM system_coffer.events") if r.table_name == table]

    def wait_status(self, table, want, timeout=30.0):
        got = wait_for(lambda: self.status(table) == want and want, timeout)
        self.assertEqual(got, want, "table cmk.%s never became %s" % (table, want))

    def make_table(self, name, key, rows=20):
        self.s.execute("CREATE TABLE cmk.%s (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = %s"
                       % (name, cmk(key)))
        for i in range(rows):
            self.s.execute("INSERT INTO cmk.%s (k, v) VALUES (%%s, %%s)" % name, (i, "v%d" % i))

    def assert_refused(self, table, key, why):
        from cassandra import InvalidRequest
        for q in ("SELECT * FROM cmk.%s" % table, "INSERT INTO cmk.%s (k, v) VALUES (99, 'no')" % table):
            with self.assertRaises(InvalidRequest) as cm:
                self.s.execute(q)
            msg = str(cm.exception)
            self.assertIn("cmk.%s" % table, msg)
            self.assertIn(key, msg)
            self.assertIn(why, msg)

    def assert_rows(self, table, n=20):
        got = {r.k: r.v for r in self.s.execute("SELECT k, v FROM cmk.%s" % table)}
        self.assertEqual({k: v for k, v in got.items() if k < n}, {i: "v%d" % i for i in range(n)})



class CmkBase(CmkServer):
    # ---- tests ----

    def test_lose_and_regain_access(self):
        # the docs' commands, through the AWS CLI
        key = self.aws("create-key", "--description", "coffer cmk test")["KeyMetadata"]["Arn"]
        s = self.s
        self.make_table("t", key)
        s.execute("CREATE TABLE cmk.own (k int PRIMARY KEY, v text)")
        s.execute("INSERT INTO cmk.own (k, v) VALUES (1, 'x')")
        self.assertEqual(self.status("t"), "ACTIVE")
        # The key's default policy lets coffer only describe it and create
        # grants: the table runs on its two grants, with Keyspaces' operations.
        gs = self.aws("list-grants", "--key-id", key)["Grants"]
        names = sorted(g.get("Name", "") for g in gs)
        self.assertEqual(len(names), 2)
        self.assertTrue(names[0].endswith("-backup") and names[1].endswith("-ops"), names)
        for g in gs:
            self.assertEqual(sorted(g["Operations"]), sorted(
                ["Decrypt", "Encrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey",
                 "RetireGrant"]))
            self.assertEqual(g["GranteePrincipal"], SERVICE_ARN)
            self.assertEqual(g["Constraints"]["EncryptionContextSubset"],
                             {"coffer:keyspace": "cmk", "coffer:table": "t"})

        self.aws("disable-key", "--key-id", key)
        self.wait_status("t", INACC)
        self.assertEqual(self.status("own"), "ACTIVE")
        self.assert_refused("t", key, "disabled")
        self.assertEqual(s.execute("SELECT v FROM cmk.own WHERE k = 1").one().v, "x")
        s.execute("INSERT INTO cmk.own (k, v) VALUES (2, 'y')")
        rows = self.events("t")
        self.assertEqual([(r.keyspace_name, r.event, r.kms_key) for r in rows], [("cmk", INACC, key)])
        self.assertIn("DisabledException", rows[0].reason)
        ev = wait_for(lambda: [e for e in Hook.events if e["event"] == INACC and e["table"] == "t"])
        self.assertEqual((ev[0]["keyspace"], ev[0]["kms_key"]), ("cmk", key))
        self.assertTrue(wait_for(lambda: os.path.exists(self.cmd_out)))
        def notified():
            with open(self.cmd_out) as f:
                return "%s cmk.t %s" % (INACC, key) in f.read()
        self.assertTrue(wait_for(notified))

        self.aws("enable-key", "--key-id", key)
        self.wait_status("t", "ACTIVE")
        self.assert_rows("t")
        s.execute("INSERT INTO cmk.t (k, v) VALUES (20, 'v20')")
        self.assertTrue(wait_for(lambda: [e for e in Hook.events if e["event"] == "ACTIVE" and
                                          e["table"] == "t"]))
        self.assertEqual([r.event for r in self.events("t")], [INACC, "ACTIVE"])

        # DROP TABLE: the operations grant goes now, the backup grant stays.
        s.execute("DROP TABLE cmk.t")
        names = [g.get("Name", "") for g in self.grants(key)]
        self.assertEqual(len(names), 1)
        self.assertTrue(names[0].endswith("-backup"), names)

    def lose_while_busy(self, table, lose, restore, why):
        """Access lost by `lose` while a reader keeps the table's key cached
        and in use; noticed by the health check's re-validation; `restore`
        brings it back."""
        key = self.new_key("busy " + table)
        self.make_table(table, key)
        reader = Busy(self.s, "cmk." + table)
        reader.start()
        try:
            time.sleep(0.5)  # the key is cached and kept in use
            self.assertEqual(self.status(table), "ACTIVE")
            lose(key)
            self.wait_status(table, INACC)
        finally:
            reader.stop()
        self.assert_refused(table, key, why)
        self.assertEqual(self.events(table)[-1].event, INACC)
        restore(key)
        self.wait_status(table, "ACTIVE")
        self.assert_rows(table)
        self.assertEqual([r.event for r in self.events(table)], [INACC, "ACTIVE"])

    def test_deletion_scheduled(self):
        self.lose_while_busy(
            "del", lambda k: self.kmsc.schedule_key_deletion(KeyId=k, PendingWindowInDays=7),
            lambda k: (self.kmsc.cancel_key_deletion(KeyId=k), self.kmsc.enable_key(KeyId=k)),
            "pending deletion")

    def test_grants_revoked(self):
        def lose(key):
            for g in self.grants(key):
                self.kmsc.revoke_grant(KeyId=key, GrantId=g["GrantId"])

        def restore(key):
            # the docs' command
            self.aws("create-grant", "--key-id", key, "--grantee-principal", SERVICE_ARN,
                     "--operations", "Decrypt", "Encrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo",
                     "DescribeKey", "--constraints",
                     "EncryptionContextSubset={coffer:keyspace=cmk,coffer:table=rev}")
        self.lose_while_busy("rev", lose, restore, "AccessDenied")

    def test_policy_denies(self):
        saved = {}

        def lose(key):
            kid = key.rsplit("/", 1)[1]
            saved["p"] = self.kmsc.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]
            doc = json.loads(saved["p"])
            doc["Statement"].append({"Effect": "Deny", "Principal": {"AWS": SERVICE_ARN},
                                     "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"})
            self.kmsc.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps(doc))

        def restore(key):
            self.kmsc.put_key_policy(KeyId=key.rsplit("/", 1)[1], PolicyName="default", Policy=saved["p"])
        self.lose_while_busy("pol", lose, restore, "AccessDenied")

    def test_alter_key_online(self):
        a, b = self.new_key("alter a"), self.new_key("alter b")
        self.make_table("alt", a)
        writer = Busy(self.s, "cmk.alt", write=True)
        writer.start()
        try:
            time.sleep(0.2)
            self.s.execute("ALTER TABLE cmk.alt WITH CUSTOM_PROPERTIES = %s" % cmk(b))
            self.assertEqual(self.status("alt"), "ACTIVE")
            self.assertEqual(self.key_of("alt")["kms_key_identifier"], b)
            time.sleep(0.3)
            self.s.execute("ALTER TABLE cmk.alt WITH CUSTOM_PROPERTIES = {'encryption_specification': "
                           "{'encryption_type': 'AWS_OWNED_KMS_KEY'}}")
            self.assertEqual(self.key_of("alt")["encryption_type"], "AWS_OWNED_KMS_KEY")
            time.sleep(0.3)
            self.s.execute("ALTER TABLE cmk.alt WITH CUSTOM_PROPERTIES = %s" % cmk(a))
            time.sleep(0.3)
        finally:
            writer.stop()
        self.assertEqual(writer.errors, [])
        self.assertGreater(len(writer.written), 10)
        self.assertEqual(self.status("alt"), "ACTIVE")
        self.assertEqual(self.key_of("alt")["kms_key_identifier"], a)
        got = {r.k for r in self.s.execute("SELECT k FROM cmk.alt")}
        self.assertTrue(set(range(20)) | set(writer.written) <= got)
        # b: its grants were made at the first ALTER; the operations grant was
        # retired when the table left it, the backup grant kept (release delay).
        self.assertEqual([g["Name"].rsplit("-", 1)[1] for g in self.grants(b)], ["backup"])
        # a: a new operations grant; the backup grant (same name, so the KMS
        # answered the one still waiting for its release) is the table's again.
        self.assertEqual(sorted(g["Name"].rsplit("-", 1)[1] for g in self.grants(a)), ["backup", "ops"])
        # Only the grants hold coffer's access to a: a table key made under
        # it after the move back reads after the cache is gone.
        time.sleep(IDLE_S + 1.2)
        self.assert_rows("alt")

    def test_refused_create_is_notified(self):
        from cassandra import InvalidRequest
        key = self.new_key("refused")
        self.kmsc.disable_key(KeyId=key)
        with self.assertRaises(InvalidRequest) as cm:
            self.s.execute("CREATE TABLE cmk.refused (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = %s"
                           % cmk(key))
        self.assertIn("disabled", str(cm.exception))
        missing = "arn:aws:kms:local:000000000000:key/00000000-0000-4000-8000-000000000000"
        with self.assertRaises(InvalidRequest) as cm:
            self.s.execute("CREATE TABLE cmk.refused (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = %s"
                           % cmk(missing))
        self.assertIn("does not exist", str(cm.exception))
        rows = self.events("refused")
        self.assertEqual([(r.event, r.kms_key) for r in rows],
                         [("CREATE_TABLE_REFUSED", key), ("CREATE_TABLE_REFUSED", missing)])
        self.assertIn("disabled", rows[0].reason)
        self.assertTrue(wait_for(lambda: len([e for e in Hook.events if e["table"] == "refused"]) == 2))
        self.assertEqual(self.grants(key), [])

    def test_kms_calls_counted(self):
        from cassandra.concurrent import execute_concurrent_with_args
        key = self.new_key("counted")
        self.make_table("cnt", key, rows=0)
        ins = self.s.prepare("INSERT INTO cmk.cnt (k, v) VALUES (?, ?)")
        sel = self.s.prepare("SELECT v FROM cmk.cnt WHERE k = ?")

        def calls(op):
            r = self.s.execute("SELECT calls FROM system_coffer.kms_calls WHERE keyspace_name = 'cmk' AND "
                               "table_name = 'cnt' AND operation = %s", (op,)).one()
            return r.calls if r else 0
        self.assertEqual(calls("GenerateDataKey"), 1)
        self.assertEqual(calls("CreateGrant"), 2)
        self.assertGreaterEqual(calls("DescribeKey"), 1)
        d0, t0 = calls("Decrypt"), time.time()
        n = 10000  # 20,000 operations
        execute_concurrent_with_args(self.s, ins, [(i, "v%d" % i) for i in range(n)], concurrency=64)
        res = execute_concurrent_with_args(self.s, sel, [(i,) for i in range(n)], concurrency=64)
        self.assertTrue(all(ok for ok, _ in res))
        took = time.time() - t0
        d1 = calls("Decrypt")
        # At most one Decrypt per idle period while busy (plus the one that
        # may straddle the start and end of the run).
        self.assertLessEqual(d1 - d0, int(took / IDLE_S) + 2, (d1 - d0, took))
        row = self.s.execute("SELECT * FROM system_coffer.kms_calls WHERE keyspace_name = 'cmk' AND "
                             "table_name = 'cnt' AND operation = 'GenerateDataKey'").one()
        self.assertEqual(row.last_result, "Success")
        self.assertIsNotNone(row.last_call)
        # cofferd's --metrics-listen, and the embedded KMS API's /metrics
        for url in [self.metrics_url] + ([] if self.REMOTE else [self.kms_url + "/metrics"]):
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
            m = re.search(r'coffer_table_kms_calls_total\{keyspace="cmk",table="cnt",operation="CreateGrant"\} '
                          r'(\d+)', text)
            self.assertTrue(m, text[-2000:])
            self.assertEqual(int(m.group(1)), 2)
            m = re.search(r'coffer_table_kms_calls_total\{keyspace="cmk",table="cnt",operation="Decrypt"\} '
                          r'(\d+)', text)
            self.assertEqual(int(m.group(1)) if m else 0, d1)


class GraceBase(CmkServer):
    """The grace period's expiry, with the embedded and a standalone KMS: a
    table whose key stays disabled past --key-grace-period is backed up
    (BACKUP_TAKEN) and deleted (DELETED), each step notified through the
    events table, the webhook and the command; once the key is enabled again
    RESTORE TABLE brings the data back."""
    EXTRA_SETTINGS = ["--key-grace-period", "4s"]

    def test_grace_period_expiry(self):
        key = self.new_key("grace")
        self.make_table("g", key)
        self.kmsc.disable_key(KeyId=key)
        self.wait_status("g", INACC)

        def gone():
            r = self.s.execute("SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'cmk' "
                               "AND table_name = 'g'")
            return r.one() is None
        self.assertTrue(wait_for(gone, 30), "cmk.g was never deleted after its grace period")
        want = [INACC, "BACKUP_TAKEN", "DELETED"]
        self.assertEqual([r.event for r in self.events("g")], want)
        self.assertTrue(wait_for(lambda: [e["event"] for e in Hook.events if e["table"] == "g"] == want),
                        [e for e in Hook.events if e["table"] == "g"])

        def notified():
            with open(self.cmd_out) as f:
                text = f.read()
            return all("%s cmk.g %s" % (e, key) in text for e in want)
        self.assertTrue(wait_for(notified))
        self.kmsc.enable_key(KeyId=key)
        self.s.execute("RESTORE TABLE cmk.g_back FROM TABLE cmk.g")
        self.wait_status("g_back", "ACTIVE")
        self.assert_rows("g_back")


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class GraceEmbeddedKmsTest(GraceBase, unittest.TestCase):
    REMOTE = False


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class GraceStandaloneKmsTest(GraceBase, unittest.TestCase):
    REMOTE = True


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class EmbeddedKmsTest(CmkBase, unittest.TestCase):
    REMOTE = False


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class StandaloneKmsTest(CmkBase, unittest.TestCase):
    REMOTE = True

    def test_start_during_outage(self):
        """cofferd started while its KMS is down: it comes up, refuses with a
        retryable error naming the KMS, and serves once the KMS is back."""
        from cassandra.cluster import NoHostAvailable
        key = self.new_key("outage")
        self.make_table("out", key)
        other = Cofferd(extra=list(SETTINGS) + ["--kms", self.kms.url, "--kms-credentials", self.creds,
                                                "--log-level", "info"])
        other.start()
        c = cluster(other.port)
        s = c.connect()
        s.execute("CREATE KEYSPACE o WITH replication = {'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE o.t (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = %s" % cmk(key))
        s.execute("INSERT INTO o.t (k, v) VALUES (1, 'kept')")
        c.shutdown()
        other.stop()
        port = self.kms.port
        self.kms.stop()
        try:
            other.start()  # the KMS is down: cofferd starts anyway
            c = cluster(other.port)
            with self.assertRaises(NoHostAvailable) as cm:
                c.connect()
            c.shutdown()
            self.assertIn("cannot unlock its catalog: the KMS at %s" % self.kms.url, str(cm.exception))
        finally:
            self.kms.start(listen="127.0.0.1:%d" % port)

        def connected():
            cc = cluster(other.port)
            try:
                return cc, cc.connect()
            except NoHostAvailable:
                cc.shutdown()
                return None
        got = wait_for(connected, timeout=60, step=1.0)
        self.assertTrue(got, "cofferd did not unlock once the KMS was back")
        c, s = got
        self.assertEqual(s.execute("SELECT v FROM o.t WHERE k = 1").one().v, "kept")
        c.shutdown()
        rc = other.stop()
        with open(other.log.name, errors="replace") as f:
            log = f.read()[-4000:]
        self.assertEqual(rc, 0, log)
        other.cleanup()
        # and the class's own cofferd rode the outage out
        self.assert_rows("out")

    def test_throttling_is_retryable(self):
        """A KMS allowing 3 requests a second: a burst of CREATE TABLEs
        succeeds or fails only with a retryable error saying so."""
        from cassandra import OperationTimedOut
        from cassandra.protocol import OverloadedErrorMessage  # noqa: F401
        kms = KmsServer(args=["--quota-rate", "3"])
        creds, _ = kms.principal_create("coffer-service")
        kms.start()
        d = Cofferd(extra=list(SETTINGS) + ["--kms", kms.url, "--kms-credentials", creds])
        try:
            d.start()
            c = cluster(d.port)
            s = c.connect()
            s.execute("CREATE KEYSPACE th WITH replication = {'class': 'SingleRegionStrategy'}")
            outcomes = []
            for i in range(8):
                try:
                    s.execute("CREATE TABLE th.t%d (k int PRIMARY KEY, v text)" % i)
                    outcomes.append("ok")
                except OperationTimedOut:
                    outcomes.append("timeout")
                except Exception as e:  # noqa: BLE001
                    outcomes.append(str(e))
            bad = [o for o in outcomes if o != "ok" and not ("Overloaded" in o or "etry" in o)]
            self.assertEqual(bad, [], outcomes)
            self.assertIn("ok", outcomes)
            c.shutdown()
            # the KMS did throttle cofferd (so the burst tested something)
            with urllib.request.urlopen(kms.url + "/metrics", timeout=10) as r:
                m = re.search(r"^coffer_kms_throttles_total (\d+)$", r.read().decode(), re.M)
            self.assertGreater(int(m.group(1)), 0)
        finally:
            d.cleanup()
            kms.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
