#!/usr/bin/python3
"""coffer-kms driven by the real AWS CLI v2 and boto3 over plaintext HTTP on
loopback: keys, aliases, data keys, encryption context, re-encryption, key
states, rotation, grants and a second principal; SigV4 refusals (wrong secret,
stale date, unknown access key, wrong region, no signature); malformed
requests; slow and half-open clients; /metrics.

Each test class starts its own coffer-kms on 127.0.0.1 with an ephemeral port
and a temporary data directory, and stops it (SIGTERM, expecting exit 0) at
the end. The helpers here are reused by test_kms_tls.py.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import boto3
import botocore.config
import botocore.exceptions

BUILD = os.environ.get("COFFER_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
KMS_BIN = os.path.join(BUILD, "coffer-kms")
AWS = "/usr/bin/aws"


def parse_credentials(text, profile):
    """(access key id, secret) of `profile` in shared-credentials text."""
    cur, out = None, {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            cur = line[1:-1]
        elif "=" in line and cur == profile:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out["aws_access_key_id"], out["aws_secret_access_key"]


class KmsServer:
    """One coffer-kms process with its own data directory."""

    def __init__(self, args=(), tls=False):
        self.dir = tempfile.mkdtemp(prefix="coffer-kms-test-")
        self.data = os.path.join(self.dir, "data")
        self.args = list(args)
        self.tls = tls
        self.proc = None
        self.url = None
        self.cert = None
        if tls:
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
                 "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                check=True, capture_output=True)
            self.args += ["--tls-cert", self.cert, "--tls-key", self.key]

    def principal_create(self, name):
        """Runs `coffer-kms principal create` (the daemon must be stopped)."""
        r = subprocess.run([KMS_BIN, "principal", "create", name, "--data", self.data],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("principal create failed: " + r.stderr)
        path = os.path.join(self.dir, name + ".credentials")
        with open(path, "w") as f:
            f.write(r.stdout)
        return path, r.stdout

    def start(self, listen="127.0.0.1:0"):
        with open(os.path.join(self.dir, "stderr.log"), "ab") as err:
            self.proc = subprocess.Popen(
                [KMS_BIN, "--data", self.data, "--listen", listen] + self.args,
                stdout=subprocess.PIPE, stderr=err)
        deadline = time.time() + 20
        line = b""
        while time.time() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                ch = self.proc.stdout.read1(1) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(1)
                if not ch:
                    break
                line += ch
            elif self.proc.poll() is not None:
                break
        text = line.decode().strip()
        if not text.startswith("coffer-kms listening on "):
            self.stop(check=False)
            raise RuntimeError("coffer-kms did not start: %r; stderr: %s" % (text, self.stderr_text()))
        self.url = text.split(" on ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.admin_creds = os.path.join(self.data, "admin.credentials")
        with open(self.admin_creds) as f:
            self.admin_akid, self.admin_secret = parse_credentials(f.read(), "default")
        return self

    def stderr_text(self):
        try:
            with open(os.path.join(self.dir, "stderr.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, check=True):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("coffer-kms did not stop on SIGTERM")
        rc = self.proc.returncode if self.proc else 0
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
        if check and rc != 0:
            raise AssertionError("coffer-kms exited %s; stderr: %s" % (rc, self.stderr_text()))

    def cleanup(self):
        self.stop(check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients --------------------------------------------------------

    def cli_env(self, creds=None, profile="default"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_SHARED_CREDENTIALS_FILE": creds or self.admin_creds,
            "AWS_PROFILE": profile,
            "AWS_REGION": "local",
            "AWS_DEFAULT_REGION": "local",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })
        return env

    def cli(self, *args, creds=None, profile="default", error=None):
        """Runs `aws kms ...`; returns parsed JSON output, or (with error=Name)
        asserts that the call failed with that AWS error and returns stderr."""
        cmd = [AWS, "--endpoint-url", self.url, "--output", "json"]
        if self.cert:
            cmd += ["--ca-bundle", self.cert]
        cmd += ["kms"] + list(args)
        r = subprocess.run(cmd, env=self.cli_env(creds, profile), capture_output=True, text=True,
                           timeout=60)
        if error:
            if r.returncode == 0 or "(%s)" % error not in r.stderr:
                raise AssertionError("expected %s from %s, got rc=%d out=%s err=%s"
                                     % (error, args, r.returncode, r.stdout, r.stderr))
            return r.stderr
        if r.returncode != 0:
            raise AssertionError("aws kms %s failed: %s" % (" ".join(args), r.stderr))
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def boto(self, akid=None, secret=None, region="local"):
        return boto3.client(
            "kms", endpoint_url=self.url, region_name=region,
            aws_access_key_id=akid or self.admin_akid,
            aws_secret_access_key=secret or self.admin_secret,
            verify=self.cert if self.cert else None,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                          connect_timeout=5, read_timeout=20))

    # ---- hand-signed requests (SigV4 by hand with hashlib/hmac) ---------

    def raw(self, target, body, akid=None, secret=None, when=None, region="local",
            sign=True, headers=None, timeout=10):
        """POST / with a SigV4 signature computed here; returns (status, headers, body)."""
        if isinstance(body, str):
            body = body.encode()
        akid = akid or self.admin_akid
        secret = secret or self.admin_secret
        when = when or datetime.datetime.now(datetime.timezone.utc)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        date8 = amz_date[:8]
        host = "127.0.0.1:%d" % self.port
        h = {"host": host, "content-type": "application/x-amz-json-1.1",
             "x-amz-date": amz_date, "x-amz-target": target}
        signed = sorted(h)
        creq = "\n".join(["POST", "/", ""] + ["%s:%s" % (k, h[k]) for k in signed] +
                         ["", ";".join(signed), hashlib.sha256(body).hexdigest()])
        scope = "%s/%s/kms/aws4_request" % (date8, region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + secret).encode()
        for part in (date8, region, "kms", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if sign:
            h["authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                                  % (akid, scope, ";".join(signed), sig))
        if headers:
            h.update(headers)
        if self.cert:
            ctx = ssl.create_default_context(cafile=self.cert)
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
            for name, value in h.items():
                conn.putheader(name, value)
            conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            conn.close()


def error_code(exc):
    return exc.response["Error"]["Code"]


def write_bytes(dirpath, name, data):
    p = os.path.join(dirpath, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


class KmsCliTest(unittest.TestCase):
    """The AWS CLI v2 against coffer-kms."""

    @classmethod
    def setUpClass(cls):
        cls.srv = KmsServer()
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.cleanup()

    def test_keys_aliases_crypto_states(self):
        s = self.srv
        md = s.cli("create-key", "--description", "cli test key")["KeyMetadata"]
        key = md["KeyId"]
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertEqual(md["KeyUsage"], "ENCRYPT_DECRYPT")
        self.assertEqual(md["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertTrue(md["Arn"].startswith("arn:aws:kms:local:000000000000:key/"))

        # aliases
        s.cli("create-alias", "--alias-name", "alias/cli-test", "--target-key-id", key)
        aliases = {a["AliasName"]: a for a in s.cli("list-aliases")["Aliases"]}
        self.assertEqual(aliases["alias/cli-test"]["TargetKeyId"], key)

        # generate-data-key through the alias; no encryption context
        dk = s.cli("generate-data-key", "--key-id", "alias/cli-test", "--key-spec", "AES_256")
        self.assertEqual(len(base64.b64decode(dk["Plaintext"])), 32)
        self.assertEqual(dk["KeyId"], md["Arn"])
        old = write_bytes(s.dir, "dk.bin", base64.b64decode(dk["CiphertextBlob"]))
        self.assertEqual(s.cli("decrypt", "--ciphertext-blob", "fileb://" + old)["Plaintext"],
                         dk["Plaintext"])

        # encrypt/decrypt with an encryption context; a wrong one fails
        pt = write_bytes(s.dir, "pt.bin", b"secret message")
        enc = s.cli("encrypt", "--key-id", key, "--plaintext", "fileb://" + pt,
                    "--encryption-context", "tenant=a,table=t1")
        cb = write_bytes(s.dir, "ct.bin", base64.b64decode(enc["CiphertextBlob"]))
        dec = s.cli("decrypt", "--ciphertext-blob", "fileb://" + cb,
                    "--encryption-context", "table=t1,tenant=a")
        self.assertEqual(base64.b64decode(dec["Plaintext"]), b"secret message")
        s.cli("decrypt", "--ciphertext-blob", "fileb://" + cb,
              "--encryption-context", "tenant=b,table=t1", error="InvalidCiphertextException")

        # re-encrypt under a second key
        key2 = s.boto().create_key()["KeyMetadata"]["KeyId"]
        re = s.cli("re-encrypt", "--ciphertext-blob", "fileb://" + cb,
                   "--source-encryption-context", "tenant=a,table=t1",
                   "--destination-key-id", key2, "--destination-encryption-context", "x=y")
        self.assertTrue(re["KeyId"].endswith(key2))
        self.assertTrue(re["SourceKeyId"].endswith(key))
        rb = write_bytes(s.dir, "re.bin", base64.b64decode(re["CiphertextBlob"]))
        dec = s.cli("decrypt", "--ciphertext-blob", "fileb://" + rb, "--encryption-context", "x=y")
        self.assertEqual(base64.b64decode(dec["Plaintext"]), b"secret message")

        # disable / enable
        s.cli("disable-key", "--key-id", key)
        s.cli("encrypt", "--key-id", key, "--plaintext", "fileb://" + pt, error="DisabledException")
        s.cli("enable-key", "--key-id", key)

        # schedule and cancel deletion
        sd = s.cli("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
        self.assertEqual(sd["KeyState"], "PendingDeletion")
        s.cli("encrypt", "--key-id", key, "--plaintext", "fileb://" + pt,
              error="KMSInvalidStateException")
        s.cli("cancel-key-deletion", "--key-id", key)
        self.assertEqual(s.boto().describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "Disabled")
        s.cli("enable-key", "--key-id", key)

        # rotation: the blob made before it still decrypts. This CLI (2.9)
        # predates RotateKeyOnDemand, so that one call is signed by hand.
        s.cli("enable-key-rotation", "--key-id", key)
        self.assertTrue(s.cli("get-key-rotation-status", "--key-id", key)["KeyRotationEnabled"])
        st, _, body = s.raw("TrentService.RotateKeyOnDemand", json.dumps({"KeyId": key}))
        self.assertEqual(st, 200, body)
        self.assertEqual(s.cli("decrypt", "--ciphertext-blob", "fileb://" + old)["Plaintext"],
                         dk["Plaintext"])

    def test_grants(self):
        s = self.srv
        key = s.boto().create_key()["KeyMetadata"]["KeyId"]
        g = s.cli("create-grant", "--key-id", key,
                  "--grantee-principal", "arn:aws:iam::000000000000:user/admin",
                  "--operations", "Encrypt", "Decrypt", "RetireGrant", "--name", "g1",
                  "--constraints", "EncryptionContextSubset={tenant=a}")
        g2 = s.boto().create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::000000000000:user/admin",
                                   Operations=["GenerateDataKey"])
        grants = s.cli("list-grants", "--key-id", key)["Grants"]
        ids = {x["GrantId"]: x for x in grants}
        self.assertEqual(set(ids), {g["GrantId"], g2["GrantId"]})
        self.assertEqual(ids[g["GrantId"]]["Constraints"]["EncryptionContextSubset"], {"tenant": "a"})
        self.assertEqual(sorted(ids[g["GrantId"]]["Operations"]), ["Decrypt", "Encrypt", "RetireGrant"])
        s.cli("retire-grant", "--grant-token", g["GrantToken"])
        s.cli("revoke-grant", "--key-id", key, "--grant-id", g2["GrantId"])
        self.assertEqual(s.boto().list_grants(KeyId=key)["Grants"], [])

    def test_refusals(self):
        s = self.srv
        bad = os.path.join(s.dir, "bad.credentials")
        with open(bad, "w") as f:
            f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    "[unknown]\naws_access_key_id = CKIAUNKNOWNUNKNOWN00\naws_secret_access_key = %s\n"
                    % (s.admin_akid, "B" * 40, s.admin_secret))
        s.cli("list-keys", creds=bad, error="InvalidSignatureException")
        s.cli("list-keys", creds=bad, profile="unknown", error="UnrecognizedClientException")


class KmsBotoTest(unittest.TestCase):
    """boto3 against coffer-kms, with a second principal for grants."""

    @classmethod
    def setUpClass(cls):
        cls.srv = KmsServer()
        # The store has one writer: principals are created while the daemon is down.
        cls.app_creds, text = cls.srv.principal_create("app")
        cls.app_akid, cls.app_secret = parse_credentials(text, "app")
        cls.app_arn = "arn:aws:iam::000000000000:user/app"
        cls.srv.start()
        cls.kms = cls.srv.boto()
        cls.app = cls.srv.boto(cls.app_akid, cls.app_secret)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.cleanup()

    def assertKmsError(self, name, fn, *args, **kw):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kw)
        self.assertEqual(error_code(cm.exception), name, str(cm.exception))
        return cm.exception

    def test_crypto_and_states(self):
        kms = self.kms
        key = kms.create_key(Description="boto")["KeyMetadata"]
        self.assertIsInstance(key["CreationDate"], datetime.datetime)
        kid = key["KeyId"]
        kms.create_alias(AliasName="alias/boto", TargetKeyId=kid)
        ctx = {"keyspace": "ks", "table": "t"}
        dk = kms.generate_data_key(KeyId="alias/boto", KeySpec="AES_128", EncryptionContext=ctx)
        self.assertEqual(len(dk["Plaintext"]), 16)
        self.assertEqual(kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"],
                         dk["Plaintext"])
        self.assertKmsError("InvalidCiphertextException", kms.decrypt,
                            CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"keyspace": "ks"})
        self.assertKmsError("ValidationException", kms.generate_data_key, KeyId=kid)
        self.assertKmsError("ValidationException", kms.generate_data_key, KeyId=kid,
                            KeySpec="AES_256", NumberOfBytes=32)
        self.assertKmsError("NotFoundException", kms.describe_key,
                            KeyId="00000000-0000-4000-8000-000000000000")
        ct = kms.encrypt(KeyId=kid, Plaintext=b"x" * 4096)["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"x" * 4096)
        self.assertKmsError("ValidationException", kms.encrypt, KeyId=kid, Plaintext=b"x" * 4097)
        tampered = bytearray(ct)
        tampered[-1] ^= 1
        self.assertKmsError("InvalidCiphertextException", kms.decrypt, CiphertextBlob=bytes(tampered))
        re = kms.re_encrypt(CiphertextBlob=dk["CiphertextBlob"], SourceEncryptionContext=ctx,
                            DestinationKeyId=kid, DestinationEncryptionContext={"a": "b"})
        self.assertEqual(kms.decrypt(CiphertextBlob=re["CiphertextBlob"],
                                     EncryptionContext={"a": "b"})["Plaintext"], dk["Plaintext"])
        kms.disable_key(KeyId=kid)
        self.assertKmsError("DisabledException", kms.generate_data_key, KeyId=kid, KeySpec="AES_256")
        kms.enable_key(KeyId=kid)
        st, _, body = self.srv.raw("TrentService.RotateKeyOnDemand", json.dumps({"KeyId": kid}))
        self.assertEqual(st, 200, body)
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"x" * 4096)
        kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=30)
        self.assertKmsError("KMSInvalidStateException", kms.encrypt, KeyId=kid, Plaintext=b"x")
        kms.cancel_key_deletion(KeyId=kid)
        self.assertKmsError("KMSInvalidStateException", kms.cancel_key_deletion, KeyId=kid)

    def test_pagination(self):
        kms = self.kms
        made = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
        seen, marker, pages = set(), None, 0
        while True:
            kw = {"Limit": 2}
            if marker:
                kw["Marker"] = marker
            page = kms.list_keys(**kw)
            pages += 1
            self.assertLessEqual(len(page["Keys"]), 2)
            seen |= {k["KeyId"] for k in page["Keys"]}
            if not page.get("Truncated"):
                break
            marker = page["NextMarker"]
        self.assertTrue(made <= seen)
        self.assertGreaterEqual(pages, 3)
        allkeys = set()
        for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3}):
            allkeys |= {k["KeyId"] for k in page["Keys"]}
        self.assertEqual(allkeys, seen)

    def test_grant_constrained_second_principal(self):
        kms, app = self.kms, self.app
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertKmsError("AccessDeniedException", app.encrypt, KeyId=kid, Plaintext=b"hi")
        g = kms.create_grant(KeyId=kid, GranteePrincipal=self.app_arn,
                             Operations=["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
                             Constraints={"EncryptionContextSubset": {"tenant": "a"}},
                             RetiringPrincipal=self.app_arn)
        ok_ctx = {"tenant": "a", "table": "t1"}
        ct = app.encrypt(KeyId=kid, Plaintext=b"hi", EncryptionContext=ok_ctx,
                         GrantTokens=[g["GrantToken"]])["CiphertextBlob"]
        self.assertEqual(app.decrypt(CiphertextBlob=ct, EncryptionContext=ok_ctx)["Plaintext"], b"hi")
        dk = app.generate_data_key(KeyId=kid, KeySpec="AES_256", EncryptionContext=ok_ctx)
        self.assertEqual(len(dk["Plaintext"]), 32)
        self.assertKmsError("AccessDeniedException", app.encrypt, KeyId=kid, Plaintext=b"hi",
                            EncryptionContext={"tenant": "b"})
        self.assertKmsError("AccessDeniedException", app.encrypt, KeyId=kid, Plaintext=b"hi")
        self.assertKmsError("AccessDeniedException", app.disable_key, KeyId=kid)
        retirable = app.list_retirable_grants(RetiringPrincipal=self.app_arn)["Grants"]
        self.assertIn(g["GrantId"], [x["GrantId"] for x in retirable])
        listed = kms.list_grants(KeyId=kid)["Grants"]
        self.assertEqual([x["GrantId"] for x in listed], [g["GrantId"]])
        self.assertEqual(listed[0]["GranteePrincipal"], self.app_arn)
        app.retire_grant(GrantToken=g["GrantToken"])
        self.assertKmsError("AccessDeniedException", app.decrypt, CiphertextBlob=ct, EncryptionContext=ok_ctx)
        g2 = kms.create_grant(KeyId=kid, GranteePrincipal=self.app_arn, Operations=["Decrypt"])
        self.assertEqual(app.decrypt(CiphertextBlob=ct, EncryptionContext=ok_ctx)["Plaintext"], b"hi")
        kms.revoke_grant(KeyId=kid, GrantId=g2["GrantId"])
        self.assertKmsError("AccessDeniedException", app.decrypt, CiphertextBlob=ct, EncryptionContext=ok_ctx)
        self.assertEqual(kms.list_grants(KeyId=kid)["Grants"], [])

    def test_sigv4_refusals(self):
        s = self.srv
        bad = s.boto(s.admin_akid, "A" * 40)
        e = self.assertKmsError("InvalidSignatureException", bad.list_keys)
        unknown = s.boto("CKIAUNKNOWNUNKNOWN00", s.admin_secret)
        self.assertKmsError("UnrecognizedClientException", unknown.list_keys)
        other_region = s.boto(region="us-east-1")
        self.assertKmsError("InvalidSignatureException", other_region.list_keys)

        # A correct hand-made signature works...
        st, _, body = s.raw("TrentService.ListKeys", "{}")
        self.assertEqual(st, 200, body)
        # ...a stale date does not, even though correctly signed.
        stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        st, _, body = s.raw("TrentService.ListKeys", "{}", when=stale)
        err = json.loads(body)
        self.assertEqual((st, err["__type"]), (400, "InvalidSignatureException"))
        self.assertIn("Signature expired", err["message"])
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)
        st, _, body = s.raw("TrentService.ListKeys", "{}", when=future)
        self.assertEqual(json.loads(body)["__type"], "InvalidSignatureException")
        # 4 minutes of skew is accepted.
        st, _, body = s.raw("TrentService.ListKeys", "{}",
                            when=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4))
        self.assertEqual(st, 200, body)
        st, _, body = s.raw("TrentService.ListKeys", "{}", sign=False)
        self.assertEqual(json.loads(body)["__type"], "MissingAuthenticationTokenException")
        st, _, body = s.raw("TrentService.ListKeys", "{}",
                            headers={"authorization": "AWS4-HMAC-SHA256 Credential=x"})
        self.assertEqual(json.loads(body)["__type"], "IncompleteSignatureException")
        # The body is covered by the signature.
        st, _, body = s.raw("TrentService.ListKeys", "{}", headers={"x-amz-content-sha256": "0" * 64})
        self.assertEqual(json.loads(body)["__type"], "InvalidSignatureException")


class KmsRobustnessTest(unittest.TestCase):
    """Malformed requests, oversized bodies, slow and half-open clients."""

    @classmethod
    def setUpClass(cls):
        cls.srv = KmsServer(args=["--timeout", "2"])
        cls.srv.start()
        cls.kms = cls.srv.boto()
        cls.key = cls.kms.create_key()["KeyMetadata"]["KeyId"]

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.cleanup()

    def expect(self, target, body, status, name, **kw):
        st, _, data = self.srv.raw(target, body, **kw)
        err = json.loads(data) if data.startswith(b"{") else {"__type": data[:80]}
        self.assertEqual((st, err.get("__type")), (status, name), data[:300])
        # the server keeps serving
        self.assertEqual(self.kms.describe_key(KeyId=self.key)["KeyMetadata"]["KeyId"], self.key)

    def test_bad_requests(self):
        k = self.key
        self.expect("TrentService.Encrypt", "{not json", 400, "SerializationException")
        self.expect("TrentService.Encrypt", "[1,2,3]", 400, "SerializationException")
        self.expect("TrentService.Encrypt", '{"KeyId": 5, "Plaintext": "aGk="}', 400, "SerializationException")
        self.expect("TrentService.Encrypt", '{"KeyId": "%s", "Plaintext": 7}' % k, 400, "SerializationException")
        self.expect("TrentService.Encrypt", '{"KeyId": "%s", "Plaintext": "!!"}' % k, 400, "SerializationException")
        self.expect("TrentService.Encrypt", '{"KeyId": "%s", "EncryptionContext": {"a": 1}, "Plaintext": "aGk="}' % k,
                    400, "SerializationException")
        self.expect("TrentService.Encrypt", '{"KeyId": "%s"}' % k, 400, "ValidationException")
        self.expect("TrentService.Decrypt", '{}', 400, "ValidationException")
        self.expect("TrentService.ListKeys", '{"Limit": 0}', 400, "ValidationException")
        self.expect("TrentService.ListKeys", '{"Limit": "x"}', 400, "SerializationException")
        self.expect("TrentService.GenerateDataKey", '{"KeyId": "%s", "NumberOfBytes": 2000}' % k,
                    400, "ValidationException")
        self.expect("TrentService.CreateGrant", '{"KeyId": "%s", "GranteePrincipal": "x", "Operations": ["Fly"]}' % k,
                    400, "ValidationException")
        self.expect("TrentService.Encrypt", '{"KeyId": "%s", "Plaintext": "aGk=", "GrantTokens": "t"}' % k,
                    400, "SerializationException")
        self.expect("TrentService.Encrypt", '{"KeyId": "a", "KeyId": "b"}', 400, "SerializationException")
        self.expect("TrentService.CreateKey", '{"KeySpec": "RSA_2048"}', 400, "UnsupportedOperationException")
        self.expect("TrentService.NoSuchOperation", "{}", 400, "UnknownOperationException")
        self.expect("Nope.ListKeys", "{}", 400, "UnknownOperationException")
        self.expect("TrentService.Encrypt", "{" + " " * (400 * 1024) + "}", 413, "ValidationException")
        # far over the limit: refused without reading the body (413 or a reset)
        try:
            st, _, _ = self.srv.raw("TrentService.Encrypt", '{"a":"' + "x" * (2 * 1024 * 1024) + '"}')
            self.assertEqual(st, 413)
        except (ConnectionResetError, BrokenPipeError):
            pass
        self.kms.describe_key(KeyId=k)
        self.expect("TrentService.Encrypt", "[" * 100000 + "]" * 100000, 400, "SerializationException")

    def test_slow_and_half_open_clients(self):
        s = self.srv
        # half-open: headers promised a body that never comes
        half = socket.create_connection(("127.0.0.1", s.port))
        half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        # slow: headers trickle in
        slow = socket.create_connection(("127.0.0.1", s.port))
        slow.sendall(b"POST / HTTP/1.1\r\nHo")
        # silent: connects and says nothing
        silent = socket.create_connection(("127.0.0.1", s.port))
        t0 = time.time()
        for _ in range(20):
            self.kms.generate_data_key(KeyId=self.key, KeySpec="AES_256")
        self.assertLess(time.time() - t0, 5.0)
        # the server closes all three after its 2 s timeout
        for sock in (half, slow, silent):
            sock.settimeout(8)
            try:
                while sock.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            sock.close()
        self.assertLess(time.time() - t0, 10.0)
        self.kms.describe_key(KeyId=self.key)

    def test_metrics(self):
        self.kms.encrypt(KeyId=self.key, Plaintext=b"m")
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=5)
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        self.assertEqual(r.status, 200)
        self.assertIn('coffer_kms_requests_total{operation="Encrypt",result="Success"}', text)
        self.assertIn("coffer_kms_throttles_total", text)
        self.assertIn('coffer_kms_request_duration_seconds_bucket{operation="Encrypt",le="+Inf"}', text)


class KmsStartupTest(unittest.TestCase):
    def test_refuses_plaintext_off_loopback(self):
        d = tempfile.mkdtemp(prefix="coffer-kms-test-")
        try:
            r = subprocess.run([KMS_BIN, "--data", os.path.join(d, "data"), "--listen", "0.0.0.0:0"],
                               capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not a loopback address", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "data", "admin.credentials")))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_credentials_file_and_restart(self):
        srv = KmsServer()
        try:
            srv.start()
            st = os.stat(srv.admin_creds)
            self.assertEqual(st.st_mode & 0o777, 0o600)
            with open(srv.admin_creds) as f:
                text = f.read()
            self.assertIn("[default]", text)
            key = srv.boto().create_key()["KeyMetadata"]["KeyId"]
            # a second daemon on the same directory refuses to run
            r = subprocess.run([KMS_BIN, "principal", "create", "x", "--data", srv.data],
                               capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("in use", r.stderr)
            srv.stop()
            srv.start()
            with open(srv.admin_creds) as f:
                self.assertEqual(f.read(), text)
            self.assertEqual(srv.boto().describe_key(KeyId=key)["KeyMetadata"]["KeyId"], key)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
