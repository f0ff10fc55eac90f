"""cofferd and coffer start, answer, and stop cleanly; cofferd's flags and
first-start files.

Run by ctest with /usr/bin/python3; COFFER_BUILD names the build directory.
Every server is started on loopback with free ports and a temporary data
directory, and stopped by the test.
"""
import os
import signal
import stat
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("COFFER_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PORTS = ["--listen", "127.0.0.1:0", "--kms-listen", "127.0.0.1:0"]


def start_cofferd(data, *extra, env=None):
    p = subprocess.Popen([os.path.join(BUILD, "cofferd"), "--data", data, *PORTS, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # A first start without COFFER_SUPERUSER_PASSWORD prints where the
    # generated password went before the ready line.
    line = ""
    for _ in range(5):
        line = p.stdout.readline()
        if not line or line.startswith("cofferd ready"):
            break
    return p, line


class CofferdTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="coffer-daemon-")
        self.data = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def stop(self, p, sig=signal.SIGTERM):
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()  # never leave a server behind, even when the test fails
            p.communicate()
            raise
        p.stdout.close()
        p.stderr.close()
        return p.returncode, err

    def test_start_and_stop_cleanly(self):
        env = {k: v for k, v in os.environ.items() if k != "COFFER_SUPERUSER_PASSWORD"}
        p, line = start_cofferd(self.data, env=env)
        self.assertIn("cofferd ready: CQL 127.0.0.1:", line)
        self.assertIn("KMS API http://127.0.0.1:", line)
        rc, err = self.stop(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("stopped", err)
        # First start: the embedded KMS in DIR/kms (seal key and admin
        # credentials 0600), the superuser's generated password 0600, the
        # data directory 0700.
        for f in ("kms/seal.key", "kms/admin.credentials", "superuser.password"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.data, f)).st_mode), 0o600, f)
        self.assertEqual(stat.S_IMODE(os.stat(self.data).st_mode), 0o700)
        with open(os.path.join(self.data, "superuser.password")) as f:
            self.assertGreaterEqual(len(f.read().strip()), 20)

    def test_restart(self):
        for _ in range(2):
            p, line = start_cofferd(self.data)
            self.assertIn("cofferd ready", line)
            rc, err = self.stop(p)
            self.assertEqual(rc, 0, err)

    def test_sigint_also_stops(self):
        p, line = start_cofferd(self.data)
        self.assertIn("cofferd ready", line)
        rc, err = self.stop(p, signal.SIGINT)
        self.assertEqual(rc, 0, err)

    def test_bad_flags_are_refused(self):
        cofferd = os.path.join(BUILD, "cofferd")
        cases = [
            ([], "--data DIR is required"),
            (["--data", self.data, "--bogus"], ""),
            (["--data", self.data, "--log-level", "loud"], "--log-level loud"),
            (["--data", self.data, "--auth", "none", "--listen", "0.0.0.0:0"], "only on loopback"),
            (["--data", self.data, "--tls-listen", "127.0.0.1:0"], "--tls-cert"),
            (["--data", self.data, "--key-cache-idle", "soon"], "--key-cache-idle soon"),
            (["--data", self.data, "--kms", "https://kms.example"], "--kms https://kms.example"),
        ]
        for args, msg in cases:
            r = subprocess.run([cofferd, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(msg, r.stderr, args)

    def test_tampered_kms_store_is_an_error_not_a_reset(self):
        p, _ = start_cofferd(self.data)
        self.assertEqual(self.stop(p)[0], 0)
        store = os.path.join(self.data, "kms", "store.log")
        with open(store, "r+b") as f:
            f.seek(90)
            b = f.read(1)
            f.seek(90)
            f.write(bytes([b[0] ^ 0x01]))
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "--data", self.data, *PORTS],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("store.log", r.stderr)
        self.assertIn("fails authentication", r.stderr)

    def test_second_cofferd_on_the_same_data_is_refused(self):
        p, line = start_cofferd(self.data)
        self.assertIn("cofferd ready", line)
        try:
            r = subprocess.run([os.path.join(BUILD, "cofferd"), "--data", self.data, *PORTS],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("in use by another process", r.stderr)
        finally:
            self.assertEqual(self.stop(p)[0], 0)

    def test_help(self):
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--data DIR", r.stdout)


class CofferCliTest(unittest.TestCase):
    def test_version_and_help(self):
        r = subprocess.run([os.path.join(BUILD, "coffer"), "version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("coffer "))
        r = subprocess.run([os.path.join(BUILD, "coffer"), "nonsense"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
