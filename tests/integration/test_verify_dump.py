"""`coffer verify`, `coffer dump` and `coffer keys status` on cofferd's data
directory, offline (cofferd stopped with SIGTERM): a sound directory verifies;
dump shows the inserted values; a flipped byte in an SSTable makes verify
exit 1 naming the file and block, and dump refuse naming the file; a table
whose customer-managed KMS key was disabled (through cofferd's KMS API with
the AWS CLI while cofferd ran, until cofferd marked the table
INACCESSIBLE_ENCRYPTION_CREDENTIALS) makes dump and verify refuse clearly;
keys status lists each table with its key state and the status cofferd
stored in the catalog.

The same against a standalone coffer-kms (cofferd --kms URL): the commands
take --kms URL --kms-credentials F as cofferd does, work on sound files,
name tampered blocks, refuse a table whose key the admin disabled after
cofferd stopped (keys status then shows the stored ACTIVE beside the
refusal), and refuse clearly without credentials, with wrong ones, or with
the KMS down."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cofferd_fixture import BUILD, SERVICE_ARN, Cofferd, cluster, cmk_policy  # noqa: E402
from test_kms_api import KmsServer  # noqa: E402

COFFER = os.path.join(BUILD, "coffer")
AWS = shutil.which("aws")


def aws_kms(d, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(d.data, "kms", "admin.credentials"),
        "AWS_PROFILE": "default", "AWS_REGION": "local", "AWS_DEFAULT_REGION": "local",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": "",
    })
    r = subprocess.run([AWS, "--endpoint-url", d.kms_url, "--output", "json", "kms", *args],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("aws kms %s: %s" % (" ".join(args), r.stderr))
    return json.loads(r.stdout) if r.stdout.strip() else {}


def coffer(*args):
    return subprocess.run([COFFER, *args], capture_output=True, text=True, timeout=120)


class VerifyDumpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="coffer-verify-test-")
        cls.d = Cofferd(data=os.path.join(cls.tmp.name, "data"),
                        extra=["--key-check-interval", "1s", "--key-cache-idle", "1s"]).start()
        d = cls.d
        key = aws_kms(d, "create-key", "--policy", cmk_policy())["KeyMetadata"]["Arn"]
        cls.cmk = key
        c = cluster(d.port)
        s = c.connect()
        s.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}")
        s.execute("CREATE TABLE ks.plain (id int, c text, v text, n bigint, PRIMARY KEY (id, c))")
        s.execute("CREATE TABLE ks.secret (id int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
                  "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
                  "'kms_key_identifier': '%s'}}" % key)
        for i in range(200):
            s.execute("INSERT INTO ks.plain (id, c, v, n) VALUES (%s, %s, %s, %s)",
                      (i, "c%d" % i, "value-%d" % i, i * 1000))
            s.execute("INSERT INTO ks.secret (id, v) VALUES (%s, %s)", (i, "secret-%d" % i))
        s.execute("DELETE FROM ks.plain WHERE id = 7 AND c = 'c7'")
        c.shutdown()
        # SIGTERM flushes every table to SSTables; then, cofferd running
        # again, the key goes away until cofferd marks the table.
        assert d.stop() == 0
        d.start()
        aws_kms(d, "disable-key", "--key-id", key)
        c = cluster(d.port)
        s = c.connect()
        deadline = time.time() + 60
        while time.time() < deadline:
            st = s.execute("SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'ks' "
                           "AND table_name = 'secret'").one().status
            if st == "INACCESSIBLE_ENCRYPTION_CREDENTIALS":
                break
            time.sleep(0.5)
        c.shutdown()
        assert st == "INACCESSIBLE_ENCRYPTION_CREDENTIALS", st
        assert d.stop() == 0
        # Which storage directory is which table: verify names each table's storage id.
        cls.dirs = {}
        r = coffer("verify", "--data", d.data)
        for m in re.finditer(r"^(ks\.\w+) \(storage id ([0-9a-f-]{36})\)$", r.stdout, re.M):
            cls.dirs[m.group(1)] = os.path.join(d.data, "data", m.group(2).replace("-", ""))
        assert set(cls.dirs) == {"ks.plain", "ks.secret"}, r.stdout

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tmp.cleanup()

    def sst(self, table):
        ssts = sorted(glob.glob(os.path.join(self.dirs[table], "SST-*.db")))
        self.assertTrue(ssts, "no SSTable for %s" % table)
        return ssts[0]

    def test_1_help(self):
        for cmd in (["verify"], ["dump"], ["keys", "status"]):
            r = coffer(*cmd, "--help")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("usage: coffer " + " ".join(cmd), r.stdout)
            self.assertIn("--kms-credentials", r.stdout)
        # --help on every command and subcommand, and `coffer help COMMAND`.
        for cmd, want in ((["keys"], "usage: coffer keys status"),
                          (["shell"], "usage: coffer shell"),
                          (["version"], "usage: coffer version"),
                          (["help"], "usage: coffer COMMAND")):
            r = coffer(*cmd, "--help")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(want, r.stdout)
        r = coffer("help", "dump")
        self.assertIn("usage: coffer dump", r.stdout)
        r = coffer("verify")
        self.assertEqual(r.returncode, 2)
        r = coffer("verify", "--data", self.d.data, "--kms-region", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("go with --kms URL", r.stderr)
        r = coffer("help")
        for cmd in ("verify", "dump", "keys", "shell", "version"):
            self.assertIn(cmd, r.stdout)

    def test_2_sound_plain_table(self):
        r = coffer("verify", "--data", self.d.data, "--table", "ks.plain")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("all sound", r.stdout)
        self.assertIn("0 problems", r.stdout)

    def test_3_dump_shows_values(self):
        r = coffer("dump", self.sst("ks.plain"), "--data", self.d.data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("table ks.plain", r.stdout)
        self.assertIn("pk (id=42) ck (c='c42') v = 'value-42' ts ", r.stdout)
        self.assertIn("pk (id=42) ck (c='c42') n = 42000", r.stdout)
        self.assertIn("ck (c='c7') row deleted", r.stdout)
        self.assertIn("row marker", r.stdout)
        self.assertRegex(r.stdout, r"\((\d+) entries\)")
        # a commit-log segment decodes too (it may be empty after the flush)
        for seg in glob.glob(os.path.join(self.dirs["ks.plain"], "CL-*.log")):
            r = coffer("dump", "--data", self.d.data, seg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("entries)", r.stdout)

    def test_4_disabled_key_refused(self):
        r = coffer("dump", self.sst("ks.secret"), "--data", self.d.data)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot unwrap the table key of %s" % self.sst("ks.secret"), r.stderr)
        self.assertIn("DisabledException", r.stderr)
        self.assertNotIn("secret-", r.stdout)
        r = coffer("verify", "--data", self.d.data, "--table", "ks.secret")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot unwrap the table key of ks.secret", r.stdout)
        self.assertIn("DisabledException", r.stdout)

    def test_5_keys_status(self):
        r = coffer("keys", "status", "--data", self.d.data)
        self.assertEqual(r.returncode, 1, r.stdout)  # one table's key is disabled
        lines = {l.split()[0]: l for l in r.stdout.splitlines() if l.startswith("ks.")}
        self.assertIn("ks.plain", lines)
        self.assertIn("ks.secret", lines)
        plain = lines["ks.plain"].split()
        self.assertTrue(plain[1].startswith("arn:aws:kms:local:000000000000:key/"))
        self.assertEqual(plain[2], "Enabled")
        self.assertEqual(plain[3], "1")
        self.assertGreaterEqual(int(plain[4]), 2)
        self.assertEqual(plain[5], "ACTIVE")
        # cofferd's last recorded KMS call for the table (its keys.reg)
        self.assertRegex(r.stdout, r"last KMS call of ks\.plain: (GenerateDataKey|Decrypt) Success at "
                                   r"\d{4}-\d\d-\d\dT")
        secret = lines["ks.secret"].split()
        self.assertEqual(secret[1], self.cmk)
        self.assertEqual(secret[2], "Disabled")
        self.assertEqual(secret[3:5], ["?", "?"])
        # The status cofferd stored in the catalog, and why.
        self.assertEqual(secret[5], "INACCESSIBLE_ENCRYPTION_CREDENTIALS")
        self.assertIn("  cannot unwrap the table key of ks.secret: DisabledException", r.stdout)
        self.assertRegex(r.stdout, r"\n  stored status INACCESSIBLE_ENCRYPTION_CREDENTIALS: .*%s"
                         % re.escape(self.cmk))
        r = coffer("keys", "status", "--data", self.d.data, "--table", "ks.plain")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("ks.secret", r.stdout)

    def test_6_tampered_sstable(self):
        path = self.sst("ks.plain")
        with open(path, "rb") as f:
            orig = f.read()
        try:
            b = bytearray(orig)
            b[100] ^= 0x01  # inside data block 0 (the header is 52 bytes)
            with open(path, "wb") as f:
                f.write(b)
            r = coffer("verify", "--data", self.d.data, "--table", "ks.plain")
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("PROBLEM: %s: data block 0 does not authenticate" % path, r.stdout)
            r = coffer("dump", path, "--data", self.d.data)
            self.assertEqual(r.returncode, 1)
            self.assertIn(path, r.stderr)
            self.assertIn("does not authenticate", r.stderr)
            self.assertNotIn("value-", r.stdout)
        finally:
            with open(path, "wb") as f:
                f.write(orig)
        r = coffer("verify", "--data", self.d.data, "--table", "ks.plain")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_7_running_cofferd_refused(self):
        self.d.start()
        try:
            r = coffer("verify", "--data", self.d.data)
            self.assertEqual(r.returncode, 1)
            self.assertIn("stop cofferd first", r.stderr)
        finally:
            self.d.stop()


class RemoteKmsOfflineTest(unittest.TestCase):
    """The offline commands against cofferd's data with a standalone coffer-kms."""

    @classmethod
    def setUpClass(cls):
        cls.kms = KmsServer()
        cls.creds, _ = cls.kms.principal_create("coffer-service")
        cls.kms.start()
        cls.cmk = cls.kms.cli("create-key", "--policy", cmk_policy())["KeyMetadata"]["Arn"]
        cls.d = Cofferd(data=os.path.join(cls.kms.dir, "cofferd"),
                        extra=["--kms", cls.kms.url, "--kms-credentials", cls.creds]).start()
        c = cluster(cls.d.port)
        s = c.connect()
        s.execute("CREATE KEYSPACE rk WITH replication = {'class': 'SingleRegionStrategy'}")
        s.execute("CREATE TABLE rk.plain (id int PRIMARY KEY, v text)")
        s.execute("CREATE TABLE rk.secret (id int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
                  "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
                  "'kms_key_identifier': '%s'}}" % cls.cmk)
        for i in range(100):
            s.execute("INSERT INTO rk.plain (id, v) VALUES (%s, %s)", (i, "plain-%d" % i))
            s.execute("INSERT INTO rk.secret (id, v) VALUES (%s, %s)", (i, "secret-%d" % i))
        c.shutdown()
        assert cls.d.stop() == 0
        cls.dirs = {}
        r = cls.off(cls, "verify")
        for m in re.finditer(r"^(rk\.\w+) \(storage id ([0-9a-f-]{36})\)$", r.stdout, re.M):
            cls.dirs[m.group(1)] = os.path.join(cls.d.data, "data", m.group(2).replace("-", ""))
        assert set(cls.dirs) == {"rk.plain", "rk.secret"}, r.stdout + r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.kms.cleanup()

    def off(self, cmd, *args, kms=True, creds=None):
        extra = ["--kms", self.kms.url, "--kms-credentials", creds or self.creds] if kms else []
        return coffer(*cmd.split(), *args, "--data", self.d.data, *extra)

    def sst(self, table):
        ssts = sorted(glob.glob(os.path.join(self.dirs[table], "SST-*.db")))
        self.assertTrue(ssts, "no SSTable for %s" % table)
        return ssts[0]

    def test_1_sound(self):
        r = self.off("verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("all sound: 2 tables", r.stdout)
        r = self.off("dump", self.sst("rk.secret"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pk (id=42) ck () v = 'secret-42'", r.stdout, r.stderr)
        r = self.off("keys status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = {l.split()[0]: l.split() for l in r.stdout.splitlines() if l.startswith("rk.")}
        self.assertEqual(lines["rk.secret"][1:3], [self.cmk, "Enabled"])
        self.assertEqual(lines["rk.plain"][2], "Enabled")
        self.assertEqual(lines["rk.plain"][5], "ACTIVE")

    def test_2_refused_without_access(self):
        # No --kms: there is no embedded KMS to use, and the error says what to give.
        r = self.off("verify", kms=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no embedded KMS here", r.stderr)
        self.assertIn("--kms URL --kms-credentials FILE", r.stderr)
        # --kms without credentials is bad usage.
        r = coffer("verify", "--data", self.d.data, "--kms", self.kms.url)
        self.assertEqual(r.returncode, 2)
        self.assertIn("needs --kms-credentials", r.stderr)
        # Credentials the KMS does not know.
        bogus = os.path.join(self.kms.dir, "bogus.credentials")
        with open(bogus, "w") as f:
            f.write("[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\n"
                    "aws_secret_access_key = bm90LWEtcmVhbC1zZWNyZXQtYXQtYWxsLW5vcGUK\n")
        r = self.off("dump", self.sst("rk.plain"), creds=bogus)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot unwrap the catalog key", r.stderr)
        self.assertNotIn("plain-", r.stdout)
        # Plaintext HTTP to a host that is not a loopback address.
        r = coffer("verify", "--data", self.d.data, "--kms", "http://192.0.2.10:9000",
                   "--kms-credentials", self.creds)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refusing plaintext HTTP", r.stderr)

    def test_3_tampered(self):
        path = self.sst("rk.plain")
        with open(path, "rb") as f:
            orig = f.read()
        try:
            b = bytearray(orig)
            b[100] ^= 0x01
            with open(path, "wb") as f:
                f.write(b)
            r = self.off("verify", "--table", "rk.plain")
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("PROBLEM: %s: data block 0 does not authenticate" % path, r.stdout)
            r = self.off("dump", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("does not authenticate", r.stderr)
        finally:
            with open(path, "wb") as f:
                f.write(orig)

    def test_4_key_disabled_then_kms_down(self):
        self.kms.cli("disable-key", "--key-id", self.cmk)
        try:
            r = self.off("dump", self.sst("rk.secret"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot unwrap the table key of %s" % self.sst("rk.secret"), r.stderr)
            self.assertIn("DisabledException", r.stderr)
            self.assertNotIn("secret-", r.stdout)
            r = self.off("verify")
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot unwrap the table key of rk.secret", r.stdout)
            r = self.off("keys status")
            self.assertEqual(r.returncode, 1)
            secret = [l.split() for l in r.stdout.splitlines() if l.startswith("rk.secret")][0]
            # Disabled now; cofferd never saw it, so the stored status is still ACTIVE.
            self.assertEqual(secret[2], "Disabled")
            self.assertEqual(secret[5], "ACTIVE")
            self.assertIn("cannot unwrap the table key of rk.secret", r.stdout)
        finally:
            self.kms.cli("enable-key", "--key-id", self.cmk)
        # The KMS down: a clear refusal naming the endpoint, within seconds.
        self.kms.stop()
        try:
            t0 = time.time()
            r = self.off("verify")
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot unwrap the catalog key", r.stderr)
            self.assertIn(self.kms.url, r.stderr)
            self.assertLess(time.time() - t0, 60)
        finally:
            self.kms.start(listen="127.0.0.1:%d" % self.kms.port)


if __name__ == "__main__":
    unittest.main(verbosity=2)
