"""`coffer verify`, `coffer dump` and `coffer keys status` on cofferd's data
directory, offline (cofferd stopped with SIGTERM): a sound directory verifies;
dump shows the inserted values; a flipped byte in an SSTable makes verify
exit 1 naming the file and block, and dump refuse naming the file; a table
whose customer-managed KMS key was disabled (through cofferd's KMS API with
the AWS CLI while cofferd ran) makes dump and verify refuse clearly; keys
status lists each table with its key state."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cofferd_fixture import BUILD, Cofferd, cluster  # noqa: E402

COFFER = os.path.join(BUILD, "coffer")
AWS = shutil.which("aws")
SERVICE_ARN = "arn:aws:iam::000000000000:user/coffer-service"


def cmk_policy():
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": SERVICE_ARN},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ReEncrypt*",
                        "kms:CreateGrant", "kms:RetireGrant"],
             "Resource": "*"},
        ]})


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
        cls.d = Cofferd(data=os.path.join(cls.tmp.name, "data")).start()
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
        # SIGTERM flushes every table to SSTables, then the key goes away.
        aws_kms(d, "disable-key", "--key-id", key)
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
        r = coffer("verify")
        self.assertEqual(r.returncode, 2)
        r = coffer("help")
        for cmd in ("verify", "dump", "keys"):
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
        self.assertEqual(secret[5], "INACCESSIBLE_ENCRYPTION_CREDENTIALS")
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
