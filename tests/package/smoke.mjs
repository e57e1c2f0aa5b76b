// The built package by its name, as ES modules: see scenarios.cjs.
import * as shedsink from "shedsink";
import { memoryTransport } from "shedsink/memory";
import { kafkaTransport } from "shedsink/kafka";
import scenarios from "./scenarios.cjs";

await scenarios.run("esm", shedsink, memoryTransport, kafkaTransport);
