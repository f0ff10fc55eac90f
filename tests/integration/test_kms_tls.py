#!/usr/bin/python3
"""coffer-kms over TLS with a certificate made here (openssl req -x509): the
AWS CLI v2 (--ca-bundle) and boto3 (verify=path) run the core operations and
the SigV4 refusals over HTTPS; plaintext HTTP on the TLS port and a client
that does not trust the certificate both fail; the daemon stops cleanly.
"""
import base64
import datetime
import http.client
import json
import os
import ssl
import sys
import unittest

import boto3
import botocore.config
import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_kms_api import KmsServer, error_code, write_bytes  # noqa: E402


class KmsTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KmsServer(tls=True)
        cls.srv.start()
        assert cls.srv.url.startswith("https://127.0.0.1:"), cls.srv.url
        cls.kms = cls.srv.boto()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.cleanup()

    def test_cli_over_tls(self):
        s = self.srv
        key = s.cli("create-key", "--description", "tls")["KeyMetadata"]["KeyId"]
        dk = s.cli("generate-data-key", "--key-id", key, "--key-spec", "AES_256",
                   "--encryption-context", "k=v")
        blob = write_bytes(s.dir, "dk.bin", base64.b64decode(dk["CiphertextBlob"]))
        self.assertEqual(s.cli("decrypt", "--ciphertext-blob", "fileb://" + blob,
                               "--encryption-context", "k=v")["Plaintext"], dk["Plaintext"])
        s.cli("decrypt", "--ciphertext-blob", "fileb://" + blob, "--encryption-context", "k=w",
              error="InvalidCiphertextException")
        s.cli("disable-key", "--key-id", key)
        s.cli("decrypt", "--ciphertext-blob", "fileb://" + blob, "--encryption-context", "k=v",
              error="DisabledException")
        g = s.cli("create-grant", "--key-id", key, "--grantee-principal",
                  "arn:aws:iam::000000000000:user/admin", "--operations", "Decrypt")
        self.assertEqual([x["GrantId"] for x in s.boto().list_grants(KeyId=key)["Grants"]],
                         [g["GrantId"]])

    def test_boto3_over_tls(self):
        kms = self.kms
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        ctx = {"keyspace": "ks"}
        ct = kms.encrypt(KeyId=kid, Plaintext=b"over tls", EncryptionContext=ctx)["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=ct, EncryptionContext=ctx)["Plaintext"], b"over tls")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            kms.decrypt(CiphertextBlob=ct)
        self.assertEqual(error_code(cm.exception), "InvalidCiphertextException")
        re = kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext=ctx, DestinationKeyId=kid)
        self.assertEqual(kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"], b"over tls")
        kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        kms.cancel_key_deletion(KeyId=kid)
        kms.enable_key(KeyId=kid)
        st, _, body = self.srv.raw("TrentService.RotateKeyOnDemand", json.dumps({"KeyId": kid}))
        self.assertEqual(st, 200, body)
        self.assertEqual(kms.decrypt(CiphertextBlob=ct, EncryptionContext=ctx)["Plaintext"], b"over tls")

    def test_refusals_over_tls(self):
        s = self.srv
        for client, name in ((s.boto(s.admin_akid, "C" * 40), "InvalidSignatureException"),
                             (s.boto("CKIAUNKNOWNUNKNOWN00", s.admin_secret), "UnrecognizedClientException")):
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                client.list_keys()
            self.assertEqual(error_code(cm.exception), name)
        stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
        st, _, body = s.raw("TrentService.ListKeys", "{}", when=stale)
        self.assertEqual((st, json.loads(body)["__type"]), (400, "InvalidSignatureException"))
        self.assertIn("Signature expired", json.loads(body)["message"])

    def test_transport_checks(self):
        s = self.srv
        # plaintext HTTP to the TLS port gets no HTTP answer
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/metrics")
            conn.getresponse().read()
        conn.close()
        # a client that does not trust the certificate refuses the server
        untrusting = boto3.client("kms", endpoint_url=s.url, region_name="local",
                                  aws_access_key_id=s.admin_akid, aws_secret_access_key=s.admin_secret,
                                  config=botocore.config.Config(retries={"max_attempts": 1}))
        with self.assertRaises(botocore.exceptions.SSLError):
            untrusting.list_keys()
        # the server still serves
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=5,
                                           context=ssl.create_default_context(cafile=s.cert))
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn("coffer_kms_requests_total", r.read().decode())
        conn.close()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
