// A process that logs 20,000 lines/s through pino to Kafka and exits when told (a line on
// stdin), for benchmarks/pino.ts's "exit while Kafka is away": `shedsink` closes its
// destination (close({ timeoutMs: 5000 })) and exits; `glue` (the Kafka glue) and
// `transport` (shedsink/pino) exit, leaving the thread-stream transport to pino's exit
// handler (flushSync, then end). Prints
// `exiting <lines logged> <Date.now()>` just before.
import process from "node:process";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { shedsinkDestination } from "../../src/pino.ts";
import { kafkaTransport } from "../../src/transports/kafka.ts";

const [mode, brokers, topic] = process.argv.slice(2) as [string, string, string];
const destination = mode === "shedsink" ? shedsinkDestination({ transport: kafkaTransport({ brokers, topic }), flusher: "worker" }) : null;
const stream = destination ?? (mode === "glue"
  ? pino.transport({ target: fileURLToPath(new URL("./pino-kafka-glue.mjs", import.meta.url)), options: { brokers, topic } })
  : pino.transport({ target: fileURLToPath(new URL("../../src/pino.ts", import.meta.url)), options: { kafka: { brokers, topic } } }));
const logger = pino({ level: "debug" }, stream).child({ service: "checkout-api", region: "eu-west-1", requestId: "4bf92f3577b34da6a3ce929d0e0e4736" });
const ROUTES = ["/orders", "/orders/:id", "/users/:id", "/cart", "/checkout"];
let id = 0;
const started = performance.now();
const timer = setInterval(() => {
  const due = Math.floor(((performance.now() - started) / 1000) * 20_000);
  while (id < due) {
    const level = id % 50 === 0 ? "error" : id % 10 === 1 ? "warn" : id % 3 === 0 ? "debug" : "info";
    logger[level]({ req: { method: "GET", url: `${ROUTES[id % 5]}?page=${id % 7}`, remoteAddress: "10.0.3.17" }, status: 200, ms: 3.25, rows: id % 100, id }, "request completed");
    id++;
  }
}, 1);
console.log("ready");
process.stdin.once("data", async () => {
  clearInterval(timer);
  console.log(`exiting ${id} ${Date.now()}`);
  if (destination !== null) {
    const report = await destination.close({ timeoutMs: 5000 });
    console.log(`closed ${JSON.stringify({ dropped: Object.fromEntries(Object.entries(report.dropped).filter(([, c]) => c.records > 0).map(([k, c]) => [k, c.records])), inDoubt: report.inDoubt.records })}`);
  }
  process.exit(0);
});
