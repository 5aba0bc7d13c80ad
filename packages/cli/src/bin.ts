#!/usr/bin/env node
import "reflect-metadata";
import { main } from "./main";

// A closed pipe (`ferry run … | head`) ends the output quietly instead of crashing.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await main(process.argv.slice(2));
