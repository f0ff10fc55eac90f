"""`coffer shell` against a real cofferd: -e and -f scripts with cqlsh's
aligned output, cqlsh-style errors and exit status, paging through many
rows, DESCRIBE output that recreates a table, the password file and a
refused login, TLS with certificate verification, and the interactive shell
driven through a pseudo-terminal (prompt, continuation lines, EXPAND, COPY,
the ---MORE--- pager, history). COPY's own cases are in test_copy.py."""
import fcntl
import os
import pty
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cofferd_fixture import BUILD, PASSWORD, Cofferd  # noqa: E402

COFFER = os.path.join(BUILD, "coffer")


class ShellTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Cofferd().start()
        cls.tmp = tempfile.TemporaryDirectory(prefix="coffer-shell-test-")

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tmp.cleanup()

    def env(self, **kw):
        env = dict(os.environ)
        env["COFFER_PASSWORD"] = PASSWORD
        env["HOME"] = self.tmp.name
        env.update(kw)
        return env

    def shell(self, *args, env=None, port=None):
        cmd = [COFFER, "shell", "--port", str(port or self.d.port), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env=env or self.env(), stdin=subprocess.DEVNULL)

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # ---- scripts ------------------------------------------------------------

    def test_file_script_aligned_output(self):
        path = self.write("script.cql", """
-- a keyspace, a table, rows; ';' inside strings and comments ends nothing
CREATE KEYSPACE fs WITH replication = {'class': 'SingleRegionStrategy'};
CREATE TABLE fs.people (id int, name text, tags list<text>, born timestamp,
    photo blob, PRIMARY KEY (id));
INSERT INTO fs.people (id, name, tags, born, photo)
    VALUES (1, 'Ada; Countess', ['math', 'it''s'], '2026-01-02T03:04:05.678Z', 0xcafe);
/* a block comment; still nothing */
INSERT INTO fs.people (id, name) VALUES (22, 'Bob');
SELECT id, name, tags, born, photo FROM fs.people WHERE id = 1;
SELECT id, name, tags FROM fs.people WHERE id = 22;
""")
        r = self.shell("-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(r.stdout, (
            "\n"
            " id | name          | tags              | born                            | photo\n"
            "----+---------------+-------------------+---------------------------------+--------\n"
            "  1 | Ada; Countess | ['math', 'it''s'] | 2026-01-02 03:04:05.678000+0000 | 0xcafe\n"
            "\n"
            "(1 rows)\n"
            "\n"
            " id | name | tags\n"
            "----+------+------\n"
            " 22 |  Bob | null\n"
            "\n"
            "(1 rows)\n"))

    def test_execute_several_statements_and_types(self):
        r = self.shell("-e", (
            "CREATE KEYSPACE IF NOT EXISTS ex WITH replication = {'class': 'SingleRegionStrategy'};"
            "CREATE TABLE IF NOT EXISTS ex.v (k int PRIMARY KEY, m map<text, int>, s set<int>,"
            " u uuid, d double, b boolean, dt date, t time, ip inet, big bigint);"
            "INSERT INTO ex.v (k, m, s, u, d, b, dt, t, ip, big) VALUES (1, {'a': 1, 'b': 2},"
            " {3, 1}, 5a6c1c5e-9d8b-4c6b-8a50-0b1a2b3c4d5e, 1.5, true, '2026-01-02',"
            " '03:04:05.123', '10.0.0.1', -9000000000);"
            "SELECT m, s, u, d, b, dt, t, ip, big FROM ex.v"))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[1].split(" | ")[0].strip(), "m")
        row = [c.strip() for c in lines[3].split(" | ")]
        self.assertEqual(row, ["{'a': 1, 'b': 2}", "{1, 3}", "5a6c1c5e-9d8b-4c6b-8a50-0b1a2b3c4d5e",
                               "1.5", "True", "2026-01-02", "03:04:05.123000000", "10.0.0.1",
                               "-9000000000"])
        self.assertEqual(lines[-1], "(1 rows)")

    def test_bad_statement_cqlsh_error_and_exit_1(self):
        r = self.shell("-e", "SELECT * FROM system.nope")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, '<stdin>:1:InvalidRequest: Error from server: code=2200 '
                                   '[Invalid query] message="unconfigured table nope"\n')
        # -f names the file and the line; later statements still run.
        path = self.write("bad.cql", "SELECT key FROM system.local;\n\nSELEC oops;\n"
                                     "SELECT key FROM system.local;\n")
        r = self.shell("-f", path)
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith(path + ":3:SyntaxException: Error from server: "
                                            "code=2000 [Syntax error in CQL query]"), r.stderr)
        self.assertEqual(r.stdout.count("(1 rows)"), 2)

    def test_paging_fetches_every_row(self):
        stmts = ["CREATE KEYSPACE IF NOT EXISTS pg WITH replication = {'class': 'SingleRegionStrategy'};",
                 "CREATE TABLE pg.t (k int PRIMARY KEY, v text);"]
        stmts += ["INSERT INTO pg.t (k, v) VALUES (%d, 'v%d');" % (i, i) for i in range(250)]
        path = self.write("many.cql", "\n".join(stmts) + "\n")
        self.assertEqual(self.shell("-f", path).returncode, 0)
        r = self.shell("-e", "SELECT * FROM pg.t")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.endswith("\n(250 rows)\n"))
        self.assertEqual(len(r.stdout.splitlines()), 1 + 2 + 250 + 2)

    # ---- DESCRIBE --------------------------------------------------------------

    def test_describe_table_recreates_it(self):
        r = self.shell("-e", """
CREATE KEYSPACE d1 WITH replication = {'class': 'SingleRegionStrategy'};
CREATE TABLE d1."Mixed" (p1 int, p2 text, c1 timeuuid, c2 int, s text static,
    v map<text, frozen<list<int>>>, "Quoted Col" blob,
    PRIMARY KEY ((p1, p2), c1, c2)) WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC)
    AND default_time_to_live = 3600 AND comment = 'it''s a test'
    AND CUSTOM_PROPERTIES = {'capacity_mode': {'throughput_mode': 'PAY_PER_REQUEST'}};
CREATE KEYSPACE d2 WITH replication = {'class': 'SingleRegionStrategy'};
""")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.shell("-e", 'DESCRIBE TABLE d1."Mixed"')
        self.assertEqual(r.returncode, 0, r.stderr)
        cql = r.stdout
        self.assertIn('CREATE TABLE d1."Mixed" (', cql)
        self.assertIn("PRIMARY KEY ((p1, p2), c1, c2)", cql)
        self.assertIn("WITH CLUSTERING ORDER BY (c1 DESC, c2 ASC)", cql)
        self.assertIn("s text static,", cql)
        self.assertIn("AND CUSTOM_PROPERTIES = {'capacity_mode': {'throughput_mode': "
                      "'PAY_PER_REQUEST'}", cql)
        path = self.write("recreate.cql", cql.replace('d1."Mixed"', 'd2."Mixed"'))
        r = self.shell("-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)

        def schema(ks):
            q = ("SELECT column_name, clustering_order, kind, position, type "
                 "FROM system_schema.columns WHERE keyspace_name = '%s';"
                 "SELECT default_time_to_live, comment, custom_properties "
                 "FROM system_schema_mcs.tables WHERE keyspace_name = '%s';"
                 "SELECT replication, durable_writes FROM system_schema.keyspaces "
                 "WHERE keyspace_name = '%s'" % (ks, ks, ks))
            out = self.shell("-e", q)
            self.assertEqual(out.returncode, 0, out.stderr)
            return out.stdout
        self.assertIn("(7 rows)", schema("d1"))
        self.assertEqual(schema("d1"), schema("d2"))

        r = self.shell("-e", "DESCRIBE KEYSPACE d1")
        self.assertTrue(r.stdout.startswith(
            "\nCREATE KEYSPACE d1 WITH replication = {'class': 'SingleRegionStrategy'} "
            "AND durable_writes = true;\n\nCREATE TABLE d1.\"Mixed\" (\n"), r.stdout)
        r = self.shell("-e", "DESCRIBE KEYSPACES")
        self.assertIn("d1  d2", r.stdout)
        r = self.shell("-e", "USE d1; DESCRIBE TABLES")
        self.assertEqual(r.stdout, "\nMixed\n\n")
        r = self.shell("-e", "DESCRIBE TABLE d1.absent")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'absent' not found in keyspace 'd1'", r.stderr)

    # ---- login, TLS, usage ---------------------------------------------------------

    def test_password_file_and_refused_login(self):
        env = self.env()
        del env["COFFER_PASSWORD"]
        pw = self.write("pw", PASSWORD + "\n")
        r = self.shell("--password-file", pw, "-e", "SELECT key FROM system.local", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(1 rows)", r.stdout)
        bad = self.write("badpw", "wrong-password\n")
        r = self.shell("--password-file", bad, "-e", "SELECT key FROM system.local", env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("AuthenticationFailed", r.stderr)
        self.assertNotIn("wrong-password", r.stderr + r.stdout)
        r = self.shell("-e", "SELECT key FROM system.local", env=env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("asks for a password", r.stderr)

    def test_usage(self):
        r = subprocess.run([COFFER, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("shell", r.stdout)
        r = subprocess.run([COFFER, "shell", "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--password-file", r.stdout)
        r = subprocess.run([COFFER, "version"], capture_output=True, text=True)
        self.assertTrue(r.stdout.startswith("coffer "))
        r = subprocess.run([COFFER, "frobnicate"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: coffer", r.stderr)
        r = subprocess.run([COFFER, "shell", "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)

    @unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
    def test_tls_verifies_the_server(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=coffer-test",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        srv = Cofferd(extra=["--tls-listen", "127.0.0.1:%d" % port, "--tls-cert", cert,
                             "--tls-key", key]).start()
        self.addCleanup(srv.cleanup)
        r = self.shell("--tls", "--ca", cert, "-e", "SELECT key FROM system.local", port=port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(1 rows)", r.stdout)
        # Without the CA the system store cannot vouch for a self-signed cert.
        r = self.shell("--tls", "-e", "SELECT key FROM system.local", port=port)
        self.assertEqual(r.returncode, 2)
        self.assertIn("certificate", r.stderr)

    # ---- the interactive shell ----------------------------------------------------

    def spawn(self, rows=50, extra=()):
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(COFFER, [COFFER, "shell", "--port", str(self.d.port), *extra],
                      self.env(TERM="xterm"))
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 200, 0, 0))
        self.addCleanup(self.reap, pid, fd)
        return pid, fd

    def reap(self, pid, fd):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)

    def expect(self, fd, buf, text, timeout=15):
        end = time.time() + timeout
        while text not in buf[0]:
            left = end - time.time()
            if left <= 0:
                self.fail("did not see %r in %r" % (text, buf[0][-2000:]))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    self.fail("EOF before %r in %r" % (text, buf[0][-2000:]))
                buf[0] += data.decode(errors="replace")
        i = buf[0].index(text) + len(text)
        seen, buf[0] = buf[0][:i], buf[0][i:]
        return seen

    def test_interactive_pty(self):
        self.assertEqual(self.shell("-e", "CREATE KEYSPACE IF NOT EXISTS it WITH replication = "
                                          "{'class': 'SingleRegionStrategy'};"
                                          "CREATE TABLE IF NOT EXISTS it.t (k int PRIMARY KEY, v text);"
                                          "INSERT INTO it.t (k, v) VALUES (7, 'seven; or so')"
                                    ).returncode, 0)
        pid, fd = self.spawn(extra=["--no-color"])
        buf = [""]
        self.expect(fd, buf, "coffer> ")
        os.write(fd, b"USE it;\n")
        self.expect(fd, buf, "coffer:it> ")
        os.write(fd, b"SELECT k, v\n")
        self.expect(fd, buf, "   ... ")
        os.write(fd, b"FROM t WHERE k = 7;\n")
        out = self.expect(fd, buf, "coffer:it> ").replace("\r\n", "\n")
        self.assertIn("\n k | v\n---+--------------\n 7 | seven; or so\n\n(1 rows)\n", out)
        os.write(fd, b"EXPAND ON\n")
        self.expect(fd, buf, "Now Expanded output is enabled")
        self.expect(fd, buf, "coffer:it> ")
        os.write(fd, b"SELECT k, v FROM t;\n")
        out = self.expect(fd, buf, "coffer:it> ").replace("\r\n", "\n")
        self.assertIn("@ Row 1\n---+--------------\n k | 7\n v | seven; or so\n", out)
        os.write(fd, b"SELECT * FROM nope;\n")
        out = self.expect(fd, buf, "coffer:it> ")
        self.assertIn('InvalidRequest: Error from server: code=2200 [Invalid query] '
                      'message="unconfigured table nope"', out)
        # COPY is a shell command: no ';' needed, the current keyspace applies,
        # and on a terminal it ends with its summary line.
        csv = os.path.join(self.tmp.name, "it.csv")
        os.write(fd, ("COPY t (k, v) TO '%s' WITH HEADER = true\n" % csv).encode())
        out = self.expect(fd, buf, "coffer:it> ")
        self.assertRegex(out, r"1 rows exported in [0-9.]+ s \(\d+ rows/s\)")
        with open(csv) as f:
            self.assertEqual(f.read(), "k,v\n7,seven; or so\n")
        os.write(fd, ("COPY t FROM '%s' WITH HEADER = true AND BOGUS = 1\n" % csv).encode())
        out = self.expect(fd, buf, "coffer:it> ")
        self.assertIn("Unrecognized COPY FROM option: BOGUS", out)
        os.write(fd, b"EXIT\n")
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        with open(os.path.join(self.tmp.name, ".coffer_history")) as f:
            hist = f.read()
        self.assertIn("USE\\040it;", hist)
        self.assertEqual(os.stat(os.path.join(self.tmp.name, ".coffer_history")).st_mode & 0o777,
                         0o600)

    def test_interactive_pager_and_color(self):
        stmts = ["CREATE KEYSPACE IF NOT EXISTS pp WITH replication = {'class': 'SingleRegionStrategy'};",
                 "CREATE TABLE IF NOT EXISTS pp.t (k int PRIMARY KEY);"]
        stmts += ["INSERT INTO pp.t (k) VALUES (%d);" % i for i in range(40)]
        self.assertEqual(self.shell("-f", self.write("pp.cql", "\n".join(stmts))).returncode, 0)
        pid, fd = self.spawn(rows=10)
        buf = [""]
        self.expect(fd, buf, "coffer> ")
        os.write(fd, b"SELECT k FROM pp.t;\n")
        out = self.expect(fd, buf, "---MORE---")
        self.assertIn("\x1b[0;1;35mk\x1b[0m", out)  # the header, coloured
        self.assertIn("\x1b[0;1;32m", out)          # an int, coloured
        os.write(fd, b"\n")
        self.expect(fd, buf, "---MORE---")
        os.write(fd, b"q\n")
        out = self.expect(fd, buf, "coffer> ")
        self.assertNotIn("(40 rows)", out)
        os.write(fd, b"QUIT\n")
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)


if __name__ == "__main__":
    unittest.main()
