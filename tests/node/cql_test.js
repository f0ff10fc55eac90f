// coffer driven by the DataStax Node.js driver: authenticated connect, a
// wrong password refused, DDL, prepared DML of several types, paging and a
// batch. Run by tests/integration/test_cql_node.py with COFFER_PORT and
// COFFER_PASSWORD set to a running cofferd's; exits non-zero on failure.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const cassandra = require('cassandra-driver');

const fs = require('node:fs');

const port = Number(process.env.COFFER_PORT);
const password = process.env.COFFER_PASSWORD;
// Set by test_cql_node.py when cofferd also listens with TLS.
const tlsPort = Number(process.env.COFFER_TLS_PORT || 0);
const tlsCa = process.env.COFFER_TLS_CA;

function client(pw, extra) {
  return new cassandra.Client(Object.assign({
    contactPoints: ['127.0.0.1'],
    protocolOptions: { port, maxVersion: 4 },
    localDataCenter: 'datacenter1',
    authProvider: new cassandra.auth.PlainTextAuthProvider('coffer', pw),
    socketOptions: { connectTimeout: 20000, readTimeout: 30000 },
  }, extra || {}));
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

test('TLS with the certificate verified', { skip: !tlsPort && 'no COFFER_TLS_PORT' }, async () => {
  const c = client(password, {
    protocolOptions: { port: tlsPort, maxVersion: 4 },
    sslOptions: { ca: [fs.readFileSync(tlsCa)], rejectUnauthorized: true, servername: 'localhost' },
  });
  await c.connect();
  try {
    await c.execute("CREATE KEYSPACE IF NOT EXISTS nodetls WITH replication = {'class': 'SingleRegionStrategy'}");
    await c.execute('CREATE TABLE IF NOT EXISTS nodetls.t (k int PRIMARY KEY, v text)');
    for (let i = 0; i < 10; i++) {
      await c.execute('INSERT INTO nodetls.t (k, v) VALUES (?, ?)', [i, 'tls' + i], { prepare: true });
    }
    const r = await c.execute('SELECT v FROM nodetls.t WHERE k = ?', [7], { prepare: true });
    assert.strictEqual(r.first().v, 'tls7');
    const all = await c.execute('SELECT k FROM nodetls.t');
    assert.strictEqual(all.rows.length, 10);
  } finally {
    await c.shutdown();
  }
  // Without the CA the certificate is refused.
  const bad = client(password, {
    protocolOptions: { port: tlsPort, maxVersion: 4 },
    sslOptions: { rejectUnauthorized: true },
  });
  await assert.rejects(bad.connect());
  await bad.shutdown();
});

test('prepared statements with the main types, metadata, conditions', async () => {
  const c = client(password);
  await c.connect();
  const T = cassandra.types;
  try {
    await c.execute("CREATE KEYSPACE IF NOT EXISTS nodety WITH replication = {'class': 'SingleRegionStrategy'}");
    await c.execute('CREATE TABLE IF NOT EXISTS nodety.all (k int PRIMARY KEY, a ascii, t text, i int, ' +
                    'bi bigint, si smallint, ti tinyint, vi varint, de decimal, f float, d double, b boolean, ' +
                    'bl blob, u uuid, tu timeuuid, ts timestamp, dt date, tm time, ip inet, l list<int>, ' +
                    's set<text>, m map<text, int>, fl frozen<list<text>>, tp tuple<int, text>)');
    const cols = ['k', 'a', 't', 'i', 'bi', 'si', 'ti', 'vi', 'de', 'f', 'd', 'b', 'bl', 'u', 'tu', 'ts', 'dt',
                  'tm', 'ip', 'l', 's', 'm', 'fl', 'tp'];
    const u = T.Uuid.random();
    const tu = T.TimeUuid.now();
    const vals = [1, 'ascii', 'h\u00e9llo \u2713', -7, T.Long.fromString('-9007199254740993'), -300, 100,
                  T.Integer.fromString('123456789012345678901234567890'), T.BigDecimal.fromString('-12.345'),
                  1.5, 2.75, true, Buffer.from([0, 1, 254, 255]), u, tu, new Date(Date.UTC(2024, 1, 29, 1, 2, 3, 456)),
                  new T.LocalDate(2024, 2, 29), T.LocalTime.fromString('13:14:15.123456789'),
                  T.InetAddress.fromString('10.1.2.3'), [3, 1, 2], ['x', 'y'], { a: 1, b: 2 }, ['p', 'q'],
                  new T.Tuple(9, 'nine')];
    await c.execute(`INSERT INTO nodety.all (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
                    vals, { prepare: true });
    const r = (await c.execute(`SELECT ${cols.join(', ')} FROM nodety.all WHERE k = ?`, [1],
                               { prepare: true })).first();
    assert.strictEqual(r.a, 'ascii');
    assert.strictEqual(r.t, 'h\u00e9llo \u2713');
    assert.strictEqual(r.i, -7);
    assert.strictEqual(r.bi.toString(), '-9007199254740993');
    assert.strictEqual(r.si, -300);
    assert.strictEqual(r.ti, 100);
    assert.strictEqual(r.vi.toString(), '123456789012345678901234567890');
    assert.strictEqual(r.de.toString(), '-12.345');
    assert.strictEqual(r.f, 1.5);
    assert.strictEqual(r.d, 2.75);
    assert.strictEqual(r.b, true);
    assert.deepStrictEqual([...r.bl], [0, 1, 254, 255]);
    assert.ok(r.u.equals(u));
    assert.ok(r.tu.equals(tu));
    assert.strictEqual(r.ts.getTime(), Date.UTC(2024, 1, 29, 1, 2, 3, 456));
    assert.strictEqual(r.dt.toString(), '2024-02-29');
    assert.strictEqual(r.tm.toString(), '13:14:15.123456789');
    assert.strictEqual(r.ip.toString(), '10.1.2.3');
    assert.deepStrictEqual(r.l, [3, 1, 2]);
    assert.deepStrictEqual(r.s.sort(), ['x', 'y']);
    assert.deepStrictEqual(r.m, { a: 1, b: 2 });
    assert.deepStrictEqual(r.fl, ['p', 'q']);
    assert.strictEqual(r.tp.get(0), 9);
    assert.strictEqual(r.tp.get(1), 'nine');

    // counters
    await c.execute('CREATE TABLE IF NOT EXISTS nodety.ctr (k text PRIMARY KEY, n counter)');
    for (let i = 0; i < 4; i++) {
      await c.execute('UPDATE nodety.ctr SET n = n + ? WHERE k = ?', [T.Long.fromNumber(5), 'c'], { prepare: true });
    }
    const n = (await c.execute("SELECT n FROM nodety.ctr WHERE k = 'c'")).first().n;
    assert.strictEqual(n.toNumber(), 20);

    // schema metadata
    const tm = await c.metadata.getTable('nodety', 'all');
    assert.ok(tm, 'table metadata');
    assert.deepStrictEqual(tm.partitionKeys.map((x) => x.name), ['k']);
    const col = tm.columns.find((x) => x.name === 'm');
    assert.strictEqual(col.type.code, T.dataTypes.map);
    assert.strictEqual(tm.columns.length, cols.length);
    await c.execute('CREATE TABLE IF NOT EXISTS nodety.ck (p text, c int, v text, PRIMARY KEY (p, c)) ' +
                    'WITH CLUSTERING ORDER BY (c DESC)');
    const ck = await c.metadata.getTable('nodety', 'ck');
    assert.deepStrictEqual(ck.clusteringKeys.map((x) => x.name), ['c']);
    assert.deepStrictEqual(ck.clusteringOrder, ['DESC']);

    // conditional updates, both ways
    const ins = await c.execute("INSERT INTO nodety.ck (p, c, v) VALUES ('a', 1, 'x') IF NOT EXISTS");
    assert.strictEqual(ins.wasApplied(), true);
    const again = await c.execute("INSERT INTO nodety.ck (p, c, v) VALUES ('a', 1, 'y') IF NOT EXISTS");
    assert.strictEqual(again.wasApplied(), false);
    const upd = await c.execute("UPDATE nodety.ck SET v = ? WHERE p = ? AND c = ? IF v = ?", ['z', 'a', 1, 'x'],
                                { prepare: true });
    assert.strictEqual(upd.wasApplied(), true);
    const no = await c.execute("UPDATE nodety.ck SET v = ? WHERE p = ? AND c = ? IF v = ?", ['w', 'a', 1, 'x'],
                               { prepare: true });
    assert.strictEqual(no.wasApplied(), false);
    const cur = await c.execute("SELECT v FROM nodety.ck WHERE p = 'a' AND c = 1");
    assert.strictEqual(cur.first().v, 'z');
  } finally {
    await c.shutdown();
  }
});
