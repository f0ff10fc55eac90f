// coffer driven by the DataStax Node.js driver: authenticated connect, a
// wrong password refused, DDL, prepared DML of several types, paging and a
// batch. Run by tests/integration/test_cql_node.py with COFFER_PORT and
// COFFER_PASSWORD set to a running cofferd's; exits non-zero on failure.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const cassandra = require('cassandra-driver');

const port = Number(process.env.COFFER_PORT);
const password = process.env.COFFER_PASSWORD;

function client(pw) {
  return new cassandra.Client({
    contactPoints: ['127.0.0.1'],
    protocolOptions: { port, maxVersion: 4 },
    localDataCenter: 'datacenter1',
    authProvider: new cassandra.auth.PlainTextAuthProvider('coffer', pw),
    socketOptions: { connectTimeout: 20000, readTimeout: 30000 },
  });
}

test('a wrong password is refused', async () => {
  const c = client('wrong-password');
  await assert.rejects(c.connect(), /Provided username coffer and\/or password are incorrect/);
  await c.shutdown();
});

test('DDL, prepared DML, paging and batches', async () => {
  const c = client(password);
  await c.connect();
  try {
    await c.execute("CREATE KEYSPACE IF NOT EXISTS nodeks WITH replication = {'class': 'SingleRegionStrategy'}");
    await c.execute('CREATE TABLE IF NOT EXISTS nodeks.t (id int, seq int, name text, big bigint, ' +
                    'ok boolean, score double, tags set<text>, PRIMARY KEY (id, seq))');
    const ins = 'INSERT INTO nodeks.t (id, seq, name, big, ok, score, tags) VALUES (?, ?, ?, ?, ?, ?, ?)';
    for (let i = 0; i < 300; i++) {
      await c.execute(ins, [i % 3, i, 'n' + i, cassandra.types.Long.fromNumber(i * 1000), i % 2 === 0,
                            i / 4, ['a', 'b']], { prepare: true });
    }
    const one = await c.execute('SELECT name, big, ok, score, tags FROM nodeks.t WHERE id = ? AND seq = ?',
                                [1, 4], { prepare: true });
    assert.strictEqual(one.rows.length, 1);
    assert.strictEqual(one.first().name, 'n4');
    assert.strictEqual(one.first().big.toNumber(), 4000);
    assert.strictEqual(one.first().ok, true);
    assert.strictEqual(one.first().score, 1);
    assert.deepStrictEqual(one.first().tags.sort(), ['a', 'b']);

    let seen = 0;
    let pageState = null;
    do {
      const page = await c.execute('SELECT id, seq FROM nodeks.t', [], { prepare: true, fetchSize: 50, pageState });
      seen += page.rows.length;
      pageState = page.pageState;
    } while (pageState);
    assert.strictEqual(seen, 300);

    await c.batch([
      { query: 'INSERT INTO nodeks.t (id, seq, name) VALUES (?, ?, ?)', params: [9, 1, 'x'] },
      { query: 'INSERT INTO nodeks.t (id, seq, name) VALUES (?, ?, ?)', params: [9, 2, 'y'] },
    ], { prepare: true });
    const nine = await c.execute('SELECT name FROM nodeks.t WHERE id = 9');
    assert.deepStrictEqual(nine.rows.map((r) => r.name), ['x', 'y']);

    await assert.rejects(c.execute("INSERT INTO nodeks.t (id, seq, name) VALUES ('x', 1, 'y')"),
                         (e) => e.code === 0x2200);
  } finally {
    await c.shutdown();
  }
});
