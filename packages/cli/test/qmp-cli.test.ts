import { describe, expect, it } from "vitest";
import { captureIo } from "../src/io";
import { main } from "../src/main";

describe("ferry run realtime options", () => {
  it("--qmp, --incoming and --pace need --realtime (exit 2)", async () => {
    const io = captureIo();
    expect(
      await main(["run", "examples/configs/hello.yaml", "--qmp", "unix:/tmp/x.sock"], io),
    ).toBe(2);
    expect(io.stderr()).toContain("run: --qmp, --incoming and --pace need --realtime");
  });

  it("a bad monitor or incoming address exits 2 naming it", async () => {
    const io = captureIo();
    expect(
      await main(["run", "examples/configs/hello.yaml", "--realtime", "--qmp", "tcp:x:70000"], io),
    ).toBe(2);
    expect(io.stderr()).toContain(
      '--qmp "tcp:x:70000": port must be an integer 0..65535, found "70000"',
    );
    const io2 = captureIo();
    expect(
      await main(
        ["run", "examples/configs/hello.yaml", "--realtime", "--incoming", "exec:cat"],
        io2,
      ),
    ).toBe(2);
    expect(io2.stderr()).toContain(
      `--incoming "exec:cat": migration protocol 'exec' is not supported by ferry`,
    );
  });

  it("runs hello in realtime without a monitor and exits with the guest's code", async () => {
    const io = captureIo();
    expect(await main(["run", "examples/configs/hello.yaml", "--realtime", "--json"], io)).toBe(0);
    const r = JSON.parse(io.stdout());
    expect(r).toMatchObject({ status: "pass", exitCode: 0, guestCode: 0 });
    expect(r.guestOutput).toBe("Hello from ferry guest on hart 0!\n");
  });

  it("the help lists the realtime options", async () => {
    const io = captureIo();
    expect(await main(["run", "--help"], io)).toBe(0);
    for (const o of ["--realtime", "--qmp ADDR", "--incoming ADDR", "--pace"])
      expect(io.stdout()).toContain(o);
  });
});
