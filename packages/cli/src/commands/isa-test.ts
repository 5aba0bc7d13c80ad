/** `ferry isa-test <elf>...`: run riscv-tests (`p` environment) ELFs through the tohost protocol. */
import { MAX_ELF_FILE_BYTES } from "../input/limits";
import { readLimitedFile } from "../input/read-file";
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { parseDuration } from "../config";
import { ExitCode } from "../exit-codes";
import { type IsaTestResult, runIsaTest } from "../isa/run-isa-test";

const HELP = `Usage: ferry isa-test <test.elf>... [--mips N] [--time-limit D] [--json]

Run RISC-V ISA test programs built for the riscv-tests "p" environment (rv32ui-p-*, rv32um-p-*,
rv32ua-p-*, or examples/guests/isa-tests/*.elf) on a one-hart virt machine in virtual time. Each
ELF must have a \`tohost\` symbol: the test writes 1 there on pass, (n << 1) | 1 when test n fails.

Options:
  --mips N           Guest speed in million instructions per virtual second (default 100).
  --time-limit D     Virtual-time limit per test, e.g. 10s (default 10s).
  --json             Print { status, results: [{ file, status, testNumber, instructions,
                     virtualTimeNs }] }.
  -h, --help         Show this help.

Exit codes: 0 every test passed, 1 a test failed or never reported, 2 bad input (missing file,
malformed ELF, no tohost symbol).
`;

/** The `isa-test` command. */
export const isaTestCommand: Command = {
  name: "isa-test",
  summary: "run riscv-tests ELFs (tohost protocol) and report pass/fail",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { mips: { type: "string" }, "time-limit": { type: "string" } },
      HELP,
    );
    if (values.help) {
      io.out(HELP);
      return ExitCode.Ok;
    }
    if (positionals.length === 0) {
      throw new UsageError("isa-test: expected at least one ELF file", HELP);
    }
    const mips = values.mips === undefined ? 100 : Number(values.mips);
    if (!Number.isFinite(mips) || mips <= 0) {
      throw new UsageError(`isa-test: --mips expects a positive number, found "${values.mips}"`);
    }
    const timeLimitNs =
      values["time-limit"] === undefined ? 10e9 : parseDuration(String(values["time-limit"]));
    const results: IsaTestResult[] = [];
    for (const file of positionals) {
      // A regular file within the ELF size limit, checked before reading (InputFileError: exit 2).
      const bytes = readLimitedFile(file, MAX_ELF_FILE_BYTES, "ELF file");
      results.push(await runIsaTest(file, bytes, { mips, timeLimitNs }));
    }
    const passed = results.filter((r) => r.status === "pass").length;
    const ok = passed === results.length;
    if (values.json === true) {
      writeJson(io, { status: ok ? "pass" : "fail", passed, total: results.length, results });
    } else {
      const width = Math.max(...results.map((r) => r.file.length));
      for (const r of results) {
        const detail =
          r.status === "fail"
            ? `test ${r.testNumber} failed`
            : r.status === "timeout"
              ? "no tohost report before the time limit"
              : `${r.instructions} instructions`;
        io.out(`${r.file.padEnd(width)}  ${r.status.toUpperCase().padEnd(7)} ${detail}\n`);
      }
      io.out(`${passed} passed, ${results.length - passed} failed\n`);
    }
    return ok ? ExitCode.Ok : ExitCode.Failure;
  },
};
