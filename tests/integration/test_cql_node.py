"""cofferd driven by the DataStax Node.js driver (tests/node, pinned by its
package-lock.json): starts a cofferd on loopback (plain and TLS, with a
self-signed certificate made here) and runs tests/node/cql_test.js with
node's test runner."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import PASSWORD, Cofferd, self_signed_cert  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(__file__), "..", "node")


class NodeDriverTest(unittest.TestCase):
    def test_node_driver(self):
        self.assertTrue(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "cassandra-driver")),
                        "run scripts/install-deps (npm ci in tests/node)")
        d = Cofferd()
        cert, key = self_signed_cert(d.tmp.name)
        d.extra = ["--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key]
        d.start()
        try:
            env = dict(os.environ, COFFER_PORT=str(d.port), COFFER_PASSWORD=PASSWORD,
                       COFFER_TLS_PORT=str(d.tls_port), COFFER_TLS_CA=cert)
            r = subprocess.run(["node", "--test", "cql_test.js"], cwd=NODE_DIR, env=env,
                               capture_output=True, text=True, timeout=600)
            sys.stdout.write(r.stdout[-6000:])
            sys.stderr.write(r.stderr[-4000:])
            self.assertEqual(r.returncode, 0, "node tests failed")
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
