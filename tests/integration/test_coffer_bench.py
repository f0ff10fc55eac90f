"""build/coffer-bench smoke test: two seconds of mixed load against a real
cofferd finish without errors and print a non-zero ops/s; a port nobody
listens on gives a clear error and a non-zero exit.

Run by ctest with /usr/bin/python3; COFFER_BUILD names the build directory.
The figures themselves belong to bench/run-all, not here.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import BUILD, Cofferd  # noqa: E402

BENCH = os.path.join(BUILD, "coffer-bench")


def free_port():
    """A loopback port that was free a moment ago and has no listener."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CofferBenchTest(unittest.TestCase):
    def test_mixed_load(self):
        d = Cofferd().start()
        self.addCleanup(d.cleanup)
        with tempfile.NamedTemporaryFile("w", prefix="coffer-bench-pw-") as pw:
            pw.write(d.password + "\n")
            pw.flush()
            p = subprocess.run([BENCH, "--port", str(d.port), "--password-file", pw.name,
                                "--mode", "mixed", "--duration", "2", "--keys", "1000",
                                "--connections", "2", "--inflight", "8"],
                               capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # the mixed phase's table ends with a total row: op count ops/s ...
        m = re.search(r"^mixed \(.*?^total\s+(\d+)\s+(\d+)\s", p.stdout, re.M | re.S)
        self.assertIsNotNone(m, p.stdout)
        self.assertGreater(int(m.group(1)), 0, p.stdout)
        self.assertGreater(int(m.group(2)), 0, p.stdout)
        self.assertRegex(p.stdout, r"(?m)^errors\s+0$")

    def test_unreachable_port(self):
        port = free_port()
        p = subprocess.run([BENCH, "--port", str(port), "--password", "x", "--duration", "1"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot connect to 127.0.0.1:%d" % port, p.stderr)


if __name__ == "__main__":
    unittest.main()
