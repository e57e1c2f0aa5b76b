# workerd config for the example Worker: `workerd serve config.capnp --experimental`
# after `node build.ts`. The brokers and topic come from the environment
# (SHEDSINK_BROKERS, SHEDSINK_TOPIC).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .telemetry),
    # The Worker's outbound network. workerd allows public addresses only by default: a
    # broker on a private or loopback address needs "private" or "local" here.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const telemetry :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "dist/worker.js") ],
  # nodejs_compat (node:net over cloudflare:sockets) is on by default from this date.
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "KAFKA_BROKERS", fromEnvironment = "SHEDSINK_BROKERS"),
    (name = "KAFKA_TOPIC", fromEnvironment = "SHEDSINK_TOPIC"),
    (name = "TELEMETRY", durableObjectNamespace = "TelemetrySink"),
  ],
  durableObjectNamespaces = [ (className = "TelemetrySink", uniqueKey = "shedsink-example-telemetry") ],
  # Alarms need storage; the sink itself keeps nothing there.
  durableObjectStorage = (inMemory = void),
);
