import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createJsonSplitter, type Frame } from "../src/framing";

const enc = new TextEncoder();

/** Feed `bytes` cut at `cuts` (sorted offsets) and collect frames. */
function feed(bytes: Uint8Array, cuts: number[], maxBytes?: number): Frame[] {
  const s = createJsonSplitter(maxBytes === undefined ? {} : { maxBytes });
  const out: Frame[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...s.push(bytes.subarray(prev, c)));
    prev = c;
  }
  return out;
}

const jsonObject = fc.dictionary(
  fc.string({ maxLength: 8 }),
  fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 4 }),
  ),
  { maxKeys: 5 },
);

describe("QMP framing (JSON splitter)", () => {
  it("frames a sequence of objects the same whatever the chunking, with any separators", () => {
    fc.assert(
      fc.property(
        fc.array(jsonObject, { minLength: 1, maxLength: 8 }),
        fc.array(fc.constantFrom("", " ", "\n", "\r\n", "\t"), { minLength: 8, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (objs, seps, rawCuts) => {
          const text = objs.map((o, i) => JSON.stringify(o) + seps[i]).join("");
          const bytes = enc.encode(text);
          const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const frames = feed(bytes, cuts);
          expect(frames.map((f) => (f.kind === "value" ? JSON.parse(f.text) : f))).toEqual(objs);
        },
      ),
    );
  });

  it("splits byte by byte (multi-byte UTF-8 inside strings survives)", () => {
    const msgs = [{ execute: "x", arguments: { s: 'é€😀 }{ " \\' } }, { id: [1, { a: "]" }] }];
    const bytes = enc.encode(msgs.map((m) => JSON.stringify(m)).join(""));
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expect(feed(bytes, cuts).map((f) => (f.kind === "value" ? JSON.parse(f.text) : f))).toEqual(
      msgs,
    );
  });

  it("never throws on garbage", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }), (chunks) => {
        const s = createJsonSplitter({ maxBytes: 64 });
        for (const c of chunks)
          for (const f of s.push(c)) expect(["value", "error"]).toContain(f.kind);
        expect(s.pending).toBeLessThanOrEqual(64);
      }),
    );
  });

  it("resynchronizes on the next object once open brackets are closed", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), jsonObject, (raw, obj) => {
        // Garbage without string delimiters: closing brackets always bring the splitter back.
        const garbage = raw.filter((b) => b !== 0x22 && b !== 0x5c);
        const s = createJsonSplitter({ maxBytes: 4096 });
        s.push(garbage);
        s.push(enc.encode(`${"]".repeat(201)}\n`));
        // The splitter is idle again (everything left over is a stray bracket or a closed value).
        const frames = s.push(enc.encode(JSON.stringify(obj)));
        const last = frames[frames.length - 1];
        expect(last).toEqual({ kind: "value", text: JSON.stringify(obj) });
      }),
    );
  });

  it("reports stray characters at top level one by one", () => {
    const frames = feed(enc.encode('} {"a":1}'), []);
    expect(frames).toEqual([
      { kind: "error", message: "JSON parse error, stray '}'" },
      { kind: "value", text: '{"a":1}' },
    ]);
  });

  it("bounds a huge value: one error, no buffering, then the next value frames normally", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2000, max: 20000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (n, rawCuts) => {
          const huge = `{"execute":"x","arguments":{"s":"${"a".repeat(n)}"}}`;
          const bytes = enc.encode(`${huge}\r\n{"execute":"ok"}\r\n`);
          const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const frames = feed(bytes, cuts, 1024);
          expect(frames).toEqual([
            { kind: "error", message: "JSON parse error, JSON token size limit exceeded" },
            { kind: "value", text: '{"execute":"ok"}' },
          ]);
        },
      ),
    );
  });

  it("bounds nesting depth", () => {
    const s = createJsonSplitter({ maxDepth: 10 });
    const frames = s.push(enc.encode(`${"[".repeat(20)}${"]".repeat(20)}{}`));
    expect(frames).toEqual([
      { kind: "error", message: "JSON parse error, JSON nesting depth limit exceeded" },
      { kind: "value", text: "{}" },
    ]);
    expect(s.pending).toBe(0);
  });

  it("frames top-level scalars as values (the server then refuses them)", () => {
    expect(feed(enc.encode('1 "x" true\n'), [])).toEqual([
      { kind: "value", text: "1" },
      { kind: "value", text: '"x"' },
      { kind: "value", text: "true" },
    ]);
  });
});
