"""Starting and stopping a real cofferd for integration tests.

Every server is started on 127.0.0.1 with free ports (port 0, read back from
cofferd's ready line) and a temporary data directory, and stopped by the test.
"""
import json
import os
import re
import signal
import subprocess
import tempfile

BUILD = os.environ.get("COFFER_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PASSWORD = "integration-test-password"
SERVICE_ARN = "arn:aws:iam::000000000000:user/coffer-service"


def cmk_policy():
    """A customer managed key's policy: the account root may do anything,
    coffer's service principal what a table on the key needs."""
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


class Cofferd:
    def __init__(self, data=None, extra=(), password=PASSWORD):
        self.tmp = None
        if data is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="cofferd-test-")
            data = os.path.join(self.tmp.name, "data")
        self.data = data
        self.extra = list(extra)
        self.password = password
        self.proc = None
        self.port = None
        self.tls_port = None
        self.kms_url = None

    def start(self):
        env = dict(os.environ)
        env["COFFER_SUPERUSER_PASSWORD"] = self.password
        # The log sits beside the data directory (in the test's own temporary
        # directory when the fixture made one), never loose in /tmp.
        self.log = open(os.path.join(os.path.dirname(os.path.abspath(self.data)),
                                     "cofferd-%d.log" % os.getpid()), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "cofferd"), "--data", self.data, "--listen", "127.0.0.1:0",
             "--kms-listen", "127.0.0.1:0", "--log-level", "warn", *self.extra],
            stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"CQL (127\.0\.0\.1):(\d+)", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            raise RuntimeError("cofferd did not start: %r (log: %s)" % (line, self.log.name))
        self.port = int(m.group(2))
        t = re.search(r"CQL/TLS (127\.0\.0\.1):(\d+)", line)
        self.tls_port = int(t.group(2)) if t else None
        k = re.search(r"KMS API (http://\S+?),", line)
        self.kms_url = k.group(1) if k else None
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if self.proc:
            self.proc.stdout.close()
            self.log.close()
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.tmp:
            self.tmp.cleanup()


def cluster(port, user="coffer", password=PASSWORD, **kw):
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
    from cassandra.policies import WhiteListRoundRobinPolicy
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                               request_timeout=30)
    return Cluster(["127.0.0.1"], port=port, protocol_version=4,
                   auth_provider=PlainTextAuthProvider(user, password),
                   execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                   connect_timeout=20, control_connection_timeout=20, **kw)


def free_port():
    """A loopback TCP port free now (bound then released), for a server that
    must come back on the same port after a restart."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(directory):
    """A self-signed certificate for localhost and 127.0.0.1 (1 day), made
    with the openssl CLI: (cert path, key path)."""
    cert = os.path.join(directory, "cql-cert.pem")
    key = os.path.join(directory, "cql-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key
