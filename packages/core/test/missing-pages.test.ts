import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MissingPages } from "../src/index";

describe("MissingPages (post-copy's missing-page map)", () => {
  it("marks, tests and clears pages; arrival wakes exactly the vCPUs parked on that page", () => {
    const m = new MissingPages(100);
    expect(m.count).toBe(0);
    expect(m.has(5)).toBe(false);
    expect(() => m.markMissing(5)).toThrow(/arm\(\) it/);
    const faults: Array<[number, number, number]> = [];
    const arrivals: number[] = [];
    m.arm(
      (page, vcpu, at) => faults.push([page, vcpu, at]),
      (page) => arrivals.push(page),
    );
    m.markMissing(5);
    m.markMissing(5);
    m.markMissing(70);
    expect(m.count).toBe(2);
    expect(() => m.markMissing(100)).toThrow(/outside 0\.\.99/);
    const woken: string[] = [];
    m.fault(5, 0, 10, () => woken.push("v0"));
    m.fault(70, 1, 11, () => woken.push("v1"));
    m.fault(5, 2, 12, () => woken.push("v2"));
    expect(faults).toEqual([
      [5, 0, 10],
      [70, 1, 11],
      [5, 2, 12],
    ]);
    expect(m.parked()).toEqual([
      { vcpu: 0, page: 5 },
      { vcpu: 1, page: 70 },
      { vcpu: 2, page: 5 },
    ]);
    expect(m.arrived(6)).toBe(false);
    expect(m.arrived(5)).toBe(true);
    expect(woken).toEqual(["v0", "v2"]);
    expect(arrivals).toEqual([5]);
    expect(m.arrived(5)).toBe(false);
    expect(m.count).toBe(1);
    expect(m.missingPages()).toEqual([70]);
    m.disarm();
    expect(m.armed).toBe(false);
  });

  it("missingPages() lists exactly the pages marked and not arrived (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 200 }),
        (n, ops) => {
          const m = new MissingPages(n);
          m.arm(null);
          const model = new Set<number>();
          for (const [mark, x] of ops) {
            const p = x % n;
            if (mark) {
              m.markMissing(p);
              model.add(p);
            } else {
              expect(m.arrived(p)).toBe(model.delete(p));
            }
          }
          expect(m.count).toBe(model.size);
          expect(m.missingPages()).toEqual([...model].sort((a, b) => a - b));
          for (let p = 0; p < n; p += 7) expect(m.has(p)).toBe(model.has(p));
        },
      ),
    );
  });
});
