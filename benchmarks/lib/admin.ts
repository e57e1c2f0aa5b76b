// Topic creation for the benchmarks on Node, Deno and Bun alike, through
// @platformatic/kafka's Admin (pure JavaScript; lib/kafka.ts's helpers load librdkafka,
// which loads on Node only).

import { Admin } from "@platformatic/kafka";
import { sleep } from "./common.ts";

/**
 * Creates topics (3 partitions, like the broker's default) and waits until every
 * partition has a leader, so that nothing timed afterwards waits for the broker to make
 * them. Rejects if a topic exists already or the leaders are not there within 10 s.
 */
export async function createTopicsPortable(brokers: string, topics: ReadonlyArray<string>, partitions = 3): Promise<void> {
  const admin = new Admin({ clientId: "shedsink-bench-admin", bootstrapBrokers: brokers.split(","), timeout: 10_000 });
  try {
    await admin.createTopics({ topics: [...topics], partitions, replicas: 1 });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const meta = await admin.metadata({ topics: [...topics], forceUpdate: true });
      const ready = topics.every((t) => {
        const m = meta.topics.get(t);
        return m !== undefined && m.partitions.length >= partitions && m.partitions.every((p) => p.leader >= 0);
      });
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(", ")} created but without leaders after 10 s`);
      await sleep(100);
    }
  } finally {
    await admin.close();
  }
}
