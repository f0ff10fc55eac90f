"""cofferd driven by the DataStax Node.js driver (tests/node, pinned by its
package-lock.json): starts a cofferd on loopback and runs tests/node/cql_test.js
with node's test runner."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import PASSWORD, Cofferd  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(__file__), "..", "node")


class NodeDriverTest(unittest.TestCase):
    def test_node_driver(self):
        self.assertTrue(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "cassandra-driver")),
                        "run scripts/install-deps (npm ci in tests/node)")
        d = Cofferd().start()
        try:
            env = dict(os.environ, COFFER_PORT=str(d.port), COFFER_PASSWORD=PASSWORD)
            r = subprocess.run(["node", "--test", "cql_test.js"], cwd=NODE_DIR, env=env,
                               capture_output=True, text=True, timeout=600)
            sys.stdout.write(r.stdout[-6000:])
            sys.stderr.write(r.stderr[-4000:])
            self.assertEqual(r.returncode, 0, "node tests failed")
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
