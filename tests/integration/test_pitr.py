"""Point-in-time recovery end to end (issue 7), through CQL with the Python
driver and the AWS CLI against cofferd's embedded KMS, settings shortened to
seconds.

Server A (grace period 1h): restores to several points in time with the exact
contents at each (the restore point one microsecond before a write excludes
it); across two key changes (k1 -> k2 -> k3, the old keys disabled); under a
new encryption specification; of a dropped table; a restore refused while the
source's key is disabled, then working once it is enabled; the shell's
progress output; a canary scan of the whole data directory (backups
included) for plaintext.

Server B (grace period 3 s, backup retention 12 s): the grace period's
expiry (events BACKUP_TAKEN and DELETED, the table gone) then RESTORE once
the key is back; expiry of old history (a point before the window refused,
earliest_restorable_timestamp moved on) and of a dropped table's backup.

Restore points come from the server's own write timestamps (the driver's
client-side timestamps are off), so nothing depends on the two clocks."""
import datetime
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import BUILD, PASSWORD, Cofferd, cluster  # noqa: E402

AWS = "/usr/bin/aws"
INACC = "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
PITR = "CUSTOM_PROPERTIES = {'point_in_time_recovery': {'status': 'enabled'}}"
CANARY = "pitr-canary-7f3a9c"


def wait_for(pred, timeout=30.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def iso(us):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cmk_props(key, pitr=True):
    p = ("{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
         "'kms_key_identifier': '%s'}" % key)
    if pitr:
        p += ", 'point_in_time_recovery': {'status': 'enabled'}"
    return p + "}"


class Server:
    def __init__(self, extra):
        self.d = Cofferd(extra=extra).start()
        self.c = cluster(self.d.port)
        self.s = self.c.connect()
        self.s.use_client_timestamp = False  # write times are the server's

    def close(self):
        self.c.shutdown()
        self.d.cleanup()

    def aws(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.d.data, "kms", "admin.credentials"),
            "AWS_REGION": "local", "AWS_DEFAULT_REGION": "local", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": "",
        })
        r = subprocess.run([AWS, "--endpoint-url", self.d.kms_url, "--output", "json", "kms", *args],
                           env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("aws kms %s: %s" % (" ".join(args), r.stderr))
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def key(self, desc, policy=False):
        """A key; with `policy`, one whose policy lets coffer use it itself
        (ALTER's key change does not create grants on the new key yet)."""
        args = ["create-key", "--description", desc]
        if policy:
            args += ["--policy", json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/coffer-service"},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ReEncrypt*",
                            "kms:CreateGrant", "kms:RetireGrant"], "Resource": "*"}]})]
        return self.aws(*args)["KeyMetadata"]["Arn"]

    def row(self, ks, table):
        return self.s.execute("SELECT status, custom_properties FROM system_schema_mcs.tables WHERE "
                              "keyspace_name = %s AND table_name = %s", (ks, table)).one()

    def status(self, ks, table):
        r = self.row(ks, table)
        return r.status if r else None

    def wait_status(self, ks, table, want, timeout=30.0):
        got = wait_for(lambda: self.status(ks, table) == want, timeout)
        if not got:
            raise AssertionError("%s.%s is %s, not %s" % (ks, table, self.status(ks, table), want))

    def restore(self, ks, new, src, at_us=None, props=None):
        q = "RESTORE TABLE %s.%s FROM TABLE %s.%s" % (ks, new, ks, src)
        opts = []
        if at_us is not None:
            opts.append("restore_timestamp = '%s'" % iso(at_us))
        if props:
            opts.append("custom_properties = %s" % props)
        if opts:
            q += " WITH " + " AND ".join(opts)
        self.s.execute(q)
        self.wait_status(ks, new, "ACTIVE")

    def contents(self, ks, table):
        return sorted((r.k, r.v) for r in self.s.execute("SELECT k, v FROM %s.%s" % (ks, table)))

    def write(self, ks, table, k, v):
        """Writes and returns the server's write timestamp (us)."""
        self.s.execute("INSERT INTO %s.%s (k, v) VALUES (%%s, %%s)" % (ks, table), (k, v))
        ts = self.s.execute("SELECT writetime(v) AS w FROM %s.%s WHERE k = %%s" % (ks, table), (k,)).one().w
        time.sleep(0.005)  # spacing only: restore points fall between writes
        return ts

    def events(self, table):
        return [(r.event, r.reason) for r in self.s.execute("SELECT table_name, event, reason FROM "
                                                             "system_coffer.events")
                if r.table_name == table]


class ServerTest(unittest.TestCase):
    """One cofferd per test class, with that class's grace period and
    retention, and a keyspace KS."""
    GRACE, RETENTION, KS = "1h", "1h", "p"

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--key-cache-idle", "1s", "--key-check-interval", "1s",
                          "--key-grace-period", cls.GRACE, "--backup-retention", cls.RETENTION])
        cls.srv.s.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SingleRegionStrategy'}" % cls.KS)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class PitrTest(ServerTest):
    @property
    def a(self):
        return self.srv

    def test_1_points_in_time(self):
        a = self.a
        a.s.execute("CREATE TABLE p.pts (k int PRIMARY KEY, v text) WITH " + PITR)
        t1 = a.write("p", "pts", 1, "one")
        t2 = a.write("p", "pts", 2, "two")
        a.s.execute("UPDATE p.pts SET v = 'ONE' WHERE k = 1")
        time.sleep(0.005)
        t3 = a.write("p", "pts", 3, "three")
        a.s.execute("DELETE FROM p.pts WHERE k = 2")
        time.sleep(0.005)
        t4 = a.write("p", "pts", 4, CANARY)
        a.restore("p", "pts_a", "pts", t2 - 1)      # one microsecond before write 2
        self.assertEqual(a.contents("p", "pts_a"), [(1, "one")])
        a.restore("p", "pts_b", "pts", t3 - 1)      # write 2 and the update, not write 3
        self.assertEqual(a.contents("p", "pts_b"), [(1, "ONE"), (2, "two")])
        a.restore("p", "pts_c", "pts", t4 - 1)      # the delete in, write 4 out
        self.assertEqual(a.contents("p", "pts_c"), [(1, "ONE"), (3, "three")])
        a.restore("p", "pts_now", "pts")            # now
        self.assertEqual(a.contents("p", "pts_now"), [(1, "ONE"), (3, "three"), (4, CANARY)])
        # write times come along
        w = a.s.execute("SELECT writetime(v) AS w FROM p.pts_a WHERE k = 1").one().w
        self.assertEqual(w, t1)
        # custom_properties: status and the start of the window
        props = a.row("p", "pts").custom_properties
        self.assertEqual(props["point_in_time_recovery"]["status"], "enabled")
        self.assertIn("earliest_restorable_timestamp", props["point_in_time_recovery"])
        events = [e for e, _ in a.events("pts_a")]
        self.assertEqual(events, ["RESTORING", "RESTORED"])

    def test_2_key_changes_and_new_spec(self):
        a = self.a
        k1, k2, k3 = (a.key("pitr k%d" % i, policy=True) for i in (1, 2, 3))
        a.s.execute("CREATE TABLE p.kc (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = " + cmk_props(k1))
        a.write("p", "kc", 1, "under k1")
        a.s.execute("ALTER TABLE p.kc WITH CUSTOM_PROPERTIES = " + cmk_props(k2, False))
        t2 = a.write("p", "kc", 2, "under k2")
        a.s.execute("ALTER TABLE p.kc WITH CUSTOM_PROPERTIES = " + cmk_props(k3, False))
        a.write("p", "kc", 3, "under k3")
        # only the last key is needed: the first two disabled
        a.aws("disable-key", "--key-id", k1)
        a.aws("disable-key", "--key-id", k2)
        a.restore("p", "kc_before", "kc", t2 - 1)
        self.assertEqual(a.contents("p", "kc_before"), [(1, "under k1")])
        props = a.row("p", "kc_before").custom_properties["encryption_specification"]
        self.assertEqual(props["kms_key_identifier"], k3)
        # a new specification: re-encrypted under the service's key
        a.restore("p", "kc_owned", "kc", props="{'encryption_specification': "
                  "{'encryption_type': 'AWS_OWNED_KMS_KEY'}}")
        self.assertEqual(a.contents("p", "kc_owned"),
                         [(1, "under k1"), (2, "under k2"), (3, "under k3")])
        props = a.row("p", "kc_owned").custom_properties["encryption_specification"]
        self.assertEqual(props, {"encryption_type": "AWS_OWNED_KMS_KEY"})

    def test_3_dropped_table(self):
        a = self.a
        a.s.execute("CREATE TABLE p.dr (k int PRIMARY KEY, v text) WITH " + PITR)
        a.write("p", "dr", 1, "before drop")
        a.s.execute("DROP TABLE p.dr")
        self.assertIsNone(a.status("p", "dr"))
        a.restore("p", "dr_back", "dr")
        self.assertEqual(a.contents("p", "dr_back"), [(1, "before drop")])
        # a table of the same name ends the dropped one's backup
        a.s.execute("CREATE TABLE p.dr (k int PRIMARY KEY, v text)")
        a.s.execute("DROP TABLE p.dr")
        from cassandra import InvalidRequest
        with self.assertRaises(InvalidRequest) as cm:
            a.s.execute("RESTORE TABLE p.dr_again FROM TABLE p.dr")
        self.assertIn("no dropped table of that name", str(cm.exception))

    def test_4_refused_while_key_disabled(self):
        from cassandra import InvalidRequest
        a = self.a
        k = a.key("pitr refused")
        a.s.execute("CREATE TABLE p.off (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = " + cmk_props(k))
        a.write("p", "off", 1, "x")
        a.aws("disable-key", "--key-id", k)
        a.wait_status("p", "off", INACC)
        with self.assertRaises(InvalidRequest) as cm:
            a.s.execute("RESTORE TABLE p.off_back FROM TABLE p.off")
        self.assertIn("p.off", str(cm.exception))
        self.assertIn(k, str(cm.exception))
        self.assertIsNone(a.status("p", "off_back"))
        a.aws("enable-key", "--key-id", k)
        a.wait_status("p", "off", "ACTIVE")
        a.restore("p", "off_back", "off")
        self.assertEqual(a.contents("p", "off_back"), [(1, "x")])

    def test_5_shell_progress(self):
        a = self.a
        a.s.execute("CREATE TABLE p.sh (k int PRIMARY KEY, v text) WITH " + PITR)
        for i in range(50):
            a.s.execute("INSERT INTO p.sh (k, v) VALUES (%s, %s)", (i, "v%d" % i))
        env = dict(os.environ, COFFER_PASSWORD=PASSWORD)
        r = subprocess.run([os.path.join(BUILD, "coffer"), "shell", "--port", str(a.d.port), "-e",
                            "RESTORE TABLE p.sh_back FROM TABLE p.sh;"],
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertIn("Restoring p.sh_back: 100%", lines)
        self.assertEqual(lines[-1], "Restore of p.sh_back complete: ACTIVE")
        pcts = [int(l.rsplit(" ", 1)[1].rstrip("%")) for l in lines if l.startswith("Restoring p.sh_back: ")]
        self.assertEqual(pcts, sorted(pcts))
        self.assertEqual(len(a.contents("p", "sh_back")), 50)
        # on a terminal: one redrawn bar
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([os.path.join(BUILD, "coffer"), "shell", "--port", str(a.d.port), "--no-pager",
                              "-e", "RESTORE TABLE p.sh_tty FROM TABLE p.sh;"],
                             env=env, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        self.assertEqual(p.wait(timeout=120), 0, p.stderr.read())
        p.stderr.close()
        os.close(master)
        text = out.decode()
        self.assertIn("\rRestoring p.sh_tty [" + "#" * 30 + "] 100%", text)
        self.assertIn("Restore of p.sh_tty complete: ACTIVE", text)
        # a failing restore is an error with the reason
        r = subprocess.run([os.path.join(BUILD, "coffer"), "shell", "--port", str(a.d.port), "-e",
                            "RESTORE TABLE p.sh_back FROM TABLE p.sh;"],
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn("AlreadyExists", r.stderr)
        # DESCRIBE prints settings only, so its CQL runs again
        r = subprocess.run([os.path.join(BUILD, "coffer"), "shell", "--port", str(a.d.port), "-e",
                            "DESCRIBE TABLE p.sh"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("'point_in_time_recovery': {'status': 'enabled'}", r.stdout)
        self.assertNotIn("earliest_restorable_timestamp", r.stdout)
        a.s.execute("DROP TABLE p.sh")
        a.s.execute(r.stdout.strip().rstrip(";"))
        self.assertEqual(a.status("p", "sh"), "ACTIVE")

    def test_9_canary_scan(self):
        """After every test above: no plaintext anywhere under the data
        directory, backups (backup/, retired tables) included."""
        a = self.a
        a.s.execute("CREATE TABLE IF NOT EXISTS p.cn (k int PRIMARY KEY, v text) WITH " + PITR)
        for i in range(20):
            a.s.execute("INSERT INTO p.cn (k, v) VALUES (%s, %s)", (i, CANARY))
        a.restore("p", "cn_back", "cn")
        a.s.execute("DROP TABLE p.cn")
        found, files, backups = [], 0, 0
        for root, _, names in os.walk(a.d.data):
            for n in names:
                path = os.path.join(root, n)
                files += 1
                backups += "backup" in path
                with open(path, "rb") as f:
                    if CANARY.encode() in f.read():
                        found.append(path)
        self.assertEqual(found, [])
        self.assertGreater(files, 10)
        self.assertGreater(backups, 0)


@unittest.skipUnless(os.path.exists(AWS), "needs the AWS CLI")
class ExpiryTest(ServerTest):
    GRACE, RETENTION, KS = "3s", "12s", "e"

    @property
    def b(self):
        return self.srv

    def test_grace_period_then_restore(self):
        from cassandra import InvalidRequest
        b = self.b
        k = b.key("grace")
        b.s.execute("CREATE TABLE e.g (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = " +
                    cmk_props(k, False))
        b.write("e", "g", 1, "kept through the grace period")
        b.aws("disable-key", "--key-id", k)
        b.wait_status("e", "g", INACC)
        self.assertTrue(wait_for(lambda: b.status("e", "g") is None, 20))
        events = [e for e, _ in b.events("g")]
        self.assertEqual(events, [INACC, "BACKUP_TAKEN", "DELETED"])
        self.assertIn("RESTORE TABLE", b.events("g")[1][1])
        with self.assertRaises(InvalidRequest) as cm:
            b.s.execute("RESTORE TABLE e.g_back FROM TABLE e.g")
        self.assertIn(k, str(cm.exception))
        b.aws("enable-key", "--key-id", k)
        b.restore("e", "g_back", "g")
        self.assertEqual(b.contents("e", "g_back"), [(1, "kept through the grace period")])

    def test_history_expiry(self):
        from cassandra import InvalidRequest
        b = self.b
        b.s.execute("CREATE TABLE e.h (k int PRIMARY KEY, v text) WITH " + PITR)
        t1 = b.write("e", "h", 1, "old")
        first = b.row("e", "h").custom_properties["point_in_time_recovery"]["earliest_restorable_timestamp"]
        b.s.execute("CREATE TABLE e.hd (k int PRIMARY KEY, v text) WITH " + PITR)
        b.write("e", "hd", 1, "dropped")
        b.s.execute("DROP TABLE e.hd")
        # past the retention: the point is out of the window, the dropped
        # table's backup is gone
        def expired():
            e = b.row("e", "h").custom_properties["point_in_time_recovery"]["earliest_restorable_timestamp"]
            return e > first and e
        b.write("e", "h", 2, "new")
        self.assertTrue(wait_for(expired, 40, 0.5))
        with self.assertRaises(InvalidRequest) as cm:
            b.s.execute("RESTORE TABLE e.h_old FROM TABLE e.h WITH restore_timestamp = '%s'" % iso(t1))
        self.assertIn("e.h", str(cm.exception))
        self.assertTrue(wait_for(lambda: self._gone(b), 40, 0.5))
        b.restore("e", "h_now", "h")
        self.assertEqual(b.contents("e", "h_now"), [(1, "old"), (2, "new")])

    @staticmethod
    def _gone(b):
        from cassandra import InvalidRequest
        try:
            b.s.execute("RESTORE TABLE e.hd_back FROM TABLE e.hd")
        except InvalidRequest as e:
            return "no dropped table" in str(e)
        b.wait_status("e", "hd_back", "ACTIVE")
        b.s.execute("DROP TABLE e.hd_back")
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
