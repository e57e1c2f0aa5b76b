// shedsink at the edge against the secured broker (KAFKA_MODE=secured scripts/kafka.sh
// start: SASL_SSL, SCRAM users, ACLs): TLS and SASL from a Durable Object in workerd.
// workerd's own network makes the TLS connections: the CA that signs the broker's
// certificate is trusted there (the config's tlsOptions), not in the Worker's options.
// Run by scripts/test.sh with the secured broker, on Node 24 (driving workerd).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { requireBroker } from "../support/kafka.ts";
import { consumeSecured, SECURED } from "../support/secured.ts";
import { sleep } from "../support/wait.ts";
import { Workerd } from "../support/workerd.ts";

interface Stats {
  object: {
    delivered: { records: number };
    accepted: { records: number };
    conservationErrors: string[];
    lastError: string | null;
    transport: { state: string };
  };
  front: { handedOver: number };
}

const scram = (password: string = SECURED.password) => ({ mechanism: "SCRAM-SHA-512", username: SECURED.user, password });

async function stats(w: Workerd): Promise<Stats> {
  return (await w.call("/stats")).body as Stats;
}

async function waitForError(w: Workerd): Promise<Stats> {
  let s = await stats(w);
  for (const deadline = Date.now() + 15_000; s.object.lastError === null && Date.now() < deadline; s = await stats(w)) await sleep(200);
  return s;
}

test("workerd: TLS and SASL/SCRAM-SHA-512 to the secured broker: every record in the topic exactly once", async () => {
  await requireBroker(SECURED.bootstrap);
  const topic = `${SECURED.prefix}-edge-${Date.now()}`;
  const ca = readFileSync(SECURED.caPath, "utf8");
  const w = await Workerd.start({ topic, brokers: SECURED.bootstrap, trustedCertificates: [ca], sink: { batch: { lingerMs: 5 }, kafka: { tls: {}, sasl: scram() } } });
  try {
    const ids: string[] = [];
    for (let r = 0; r < 100; r++) {
      const res = await fetch(`${w.url}/records?n=10&id=s${r}`);
      assert.equal(await res.text(), "ok");
      for (let i = 0; i < 10; i++) ids.push(`s${r}-${i}`);
    }
    assert.equal((await w.call("/flush?ms=30000")).body, true);
    const s = await stats(w);
    const values = await consumeSecured(topic, ids.length);
    const back = values.map((v) => (JSON.parse(v) as { id: string }).id);
    console.log(`edge: secured: ${JSON.stringify({ sent: ids.length, delivered: s.object.delivered.records, readBack: back.length, duplicates: back.length - new Set(back).size })}`);
    assert.deepEqual(s.object.conservationErrors, []);
    assert.equal(s.object.delivered.records, ids.length);
    assert.deepEqual([...back].sort(), [...ids].sort());
  } finally {
    await w.stop();
  }
});

test("workerd: a wrong SASL password: the sink is down, lastError says SASL_AUTHENTICATION_FAILED, nothing delivered", async () => {
  await requireBroker(SECURED.bootstrap);
  const ca = readFileSync(SECURED.caPath, "utf8");
  const w = await Workerd.start({ topic: `${SECURED.prefix}-edge-bad`, brokers: SECURED.bootstrap, trustedCertificates: [ca], sink: { batch: { lingerMs: 5 }, kafka: { tls: {}, sasl: scram("not-the-password") } } });
  try {
    await w.call("/records?n=3&id=b");
    const s = await waitForError(w);
    assert.equal(s.object.transport.state, "down");
    assert.match(s.object.lastError ?? "", /SASL_AUTHENTICATION_FAILED/);
    assert.equal(s.object.delivered.records, 0);
    assert.deepEqual(s.object.conservationErrors, []);
  } finally {
    await w.stop();
  }
});

test("workerd: TLS with no tlsOptions in workerd's network: lastError points at the network, workerd's log says it has no TLS configuration", async () => {
  await requireBroker(SECURED.bootstrap);
  const ca = readFileSync(SECURED.caPath, "utf8");
  // The CA given to the Worker's options only: workerd's network does not use it.
  const w = await Workerd.start({ topic: `${SECURED.prefix}-edge-notls`, brokers: SECURED.bootstrap, sink: { batch: { lingerMs: 5 }, kafka: { tls: { ca }, sasl: scram() } } });
  try {
    await w.call("/records?n=3&id=n");
    const s = await waitForError(w);
    assert.equal(s.object.delivered.records, 0);
    assert.match(s.object.lastError ?? "", /with tls, the network has no tlsOptions/);
    assert.match(w.output, /no TLS configuration/);
  } finally {
    await w.stop();
  }
});
