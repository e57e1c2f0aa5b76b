// The glue a pino user writes to get logs into Kafka without shedsink: a pino transport
// (pino-abstract-transport, run by pino.transport in a worker thread behind thread-stream)
// that sends what arrived to Kafka with @platformatic/kafka, a batch at a time, awaiting
// each send. A send that fails is counted and its lines are lost. The baseline of
// benchmarks/pino.ts; not part of the library.
import build from "pino-abstract-transport";
import { Producer } from "@platformatic/kafka";

export default async function glue({ brokers, topic }) {
  const producer = new Producer({ clientId: "pino-glue", bootstrapBrokers: [brokers], acks: -1, compression: "lz4" });
  producer.on("error", () => {});
  const encoder = new TextEncoder();
  const send = async (messages) => {
    try {
      await producer.send({ messages });
    } catch {
      // lost: nothing tells the application
    }
  };
  return build(
    async (source) => {
      let batch = [];
      for await (const line of source) {
        batch.push({ topic, value: encoder.encode(line) });
        // What has arrived so far, up to 1000 lines, goes in one send.
        if (batch.length >= 1000 || source.readableLength === 0) {
          await send(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await send(batch);
    },
    { parse: "lines", close: async () => await producer.close() },
  );
}
