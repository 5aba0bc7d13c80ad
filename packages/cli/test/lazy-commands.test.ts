import { describe, expect, it } from "vitest";
import { commands } from "../src";
import { commandEntries } from "../src/commands/lazy";

describe("lazily loaded commands", () => {
  it("list the same commands, in the same order, with the summaries of the modules they load", async () => {
    expect(commandEntries.map((e) => e.name)).toEqual(commands.map((c) => c.name));
    for (const entry of commandEntries) {
      const command = await entry.load();
      expect(command.name).toBe(entry.name);
      expect(command.summary).toBe(entry.summary);
    }
  });
});
