// The built package by its name, through require(): see scenarios.cjs.
"use strict";
const shedsink = require("shedsink");
const { memoryTransport } = require("shedsink/memory");
const { kafkaTransport } = require("shedsink/kafka");
const scenarios = require("./scenarios.cjs");

scenarios.run("cjs", shedsink, memoryTransport, kafkaTransport).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
