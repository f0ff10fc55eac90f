"""cofferd and coffer start, answer, and stop cleanly (the foundation's promise).

Run by ctest with /usr/bin/python3; COFFER_BUILD names the build directory.
Every server is started on loopback with a temporary data directory and stopped
by the test.
"""
import os
import signal
import stat
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("COFFER_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def start_cofferd(data, *extra):
    p = subprocess.Popen([os.path.join(BUILD, "cofferd"), "--data", data, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return p, line


class CofferdTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="coffer-daemon-")
        self.data = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def stop(self, p):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        return p.returncode, err

    def test_start_and_stop_cleanly(self):
        p, line = start_cofferd(self.data)
        self.assertIn("cofferd ready", line)
        rc, err = self.stop(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("stopped", err)
        # The embedded KMS lives in DIR/kms; its seal key is 0600 and the
        # directory 0700.
        seal = os.path.join(self.data, "kms", "seal.key")
        self.assertEqual(stat.S_IMODE(os.stat(seal).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.data).st_mode), 0o700)
        self.assertTrue(os.path.exists(os.path.join(self.data, "kms", "store.log")))

    def test_restart_keeps_the_service_key(self):
        p, line = start_cofferd(self.data)
        self.assertIn("cofferd ready", line)
        rc, err1 = self.stop(p)
        self.assertEqual(rc, 0, err1)
        p, line = start_cofferd(self.data)
        self.assertIn("cofferd ready", line)
        rc, err2 = self.stop(p)
        self.assertEqual(rc, 0, err2)
        key1 = [l for l in err1.splitlines() if "service key" in l][0].split("service key ")[1]
        key2 = [l for l in err2.splitlines() if "service key" in l][0].split("service key ")[1]
        self.assertEqual(key1, key2)

    def test_sigint_also_stops(self):
        p, line = start_cofferd(self.data)
        self.assertIn("cofferd ready", line)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)

    def test_bad_flags_are_refused(self):
        r = subprocess.run([os.path.join(BUILD, "cofferd")], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--data DIR is required", r.stderr)
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "--data", self.data, "--bogus"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "--data", self.data, "--log-level", "loud"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--log-level loud", r.stderr)

    def test_tampered_store_is_an_error_not_a_reset(self):
        p, _ = start_cofferd(self.data)
        self.assertEqual(self.stop(p)[0], 0)
        store = os.path.join(self.data, "kms", "store.log")
        with open(store, "r+b") as f:
            f.seek(80)
            b = f.read(1)
            f.seek(80)
            f.write(bytes([b[0] ^ 0x01]))
        r = subprocess.run([os.path.join(BUILD, "cofferd"), "--data", self.data],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("store.log", r.stderr)
        self.assertIn("fails authentication", r.stderr)

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
