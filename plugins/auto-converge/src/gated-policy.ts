/**
 * The part both auto-converge policies share: the ≥ 1 s evaluation gate, the "high period"
 * counting, the counters, and the {@link Evaluation} record. A policy supplies only its
 * {@link PeriodRule}: what makes a period high, when high periods trigger an action, and what an
 * action does to the target.
 */
import { type ThrottleTarget, throttleTargetPercentage } from "@ferry/core";
import { createPeriodGate, type Period } from "./period";
import type { Evaluation, PolicyCounters, ThrottlePolicy } from "./types";

/** The policy-specific decisions of a gated policy. */
export interface PeriodRule {
  /** Dirty bytes above which the closed period `p` is high. */
  thresholdBytes(p: Period): number;
  /** Whether `p` is high (may consult the rule's history of earlier periods). */
  isHigh(p: Period, thresholdBytes: number): boolean;
  /** Count one high period; true when it triggers a throttle action (the rule resets its count). */
  countHigh(): boolean;
  /** The high-period counter now. */
  highCount(): number;
  /** Take a throttle action; returns true when the target changed (activation or a raise). */
  act(p: Period, thresholdBytes: number): boolean;
  /** Called after every evaluated period (to keep history for the next one). */
  afterPeriod?(p: Period): void;
  /** The target now. */
  target(): ThrottleTarget;
}

/** Make a {@link ThrottlePolicy} named `name` from `rule`, evaluated at most every `intervalNs`. */
export function createGatedPolicy(
  name: string,
  rule: PeriodRule,
  intervalNs?: number,
): ThrottlePolicy {
  const gate = createPeriodGate(intervalNs);
  let evaluations = 0;
  let highPeriods = 0;
  let actions = 0;
  let steps = 0;
  let maxPct = 0;
  const evaluate = (p: Period): Evaluation => {
    evaluations++;
    const thresholdBytes = rule.thresholdBytes(p);
    const high = rule.isHigh(p, thresholdBytes);
    let throttled = false;
    if (high) {
      highPeriods++;
      if (rule.countHigh()) {
        throttled = true;
        actions++;
        if (rule.act(p, thresholdBytes)) {
          steps++;
          maxPct = Math.max(maxPct, throttleTargetPercentage(rule.target()));
        }
      }
    }
    rule.afterPeriod?.(p);
    return {
      nowNs: p.nowNs,
      durationNs: p.durationNs,
      dirtyBytes: p.dirtyBytes,
      xferBytes: p.xferBytes,
      thresholdBytes,
      high,
      highCount: rule.highCount(),
      throttled,
      target: rule.target(),
    };
  };
  return {
    name,
    onSync(sample): Evaluation | null {
      const p = gate.add(sample);
      return p === null ? null : evaluate(p);
    },
    onPeriod: evaluate,
    target: () => rule.target(),
    percentage: () => throttleTargetPercentage(rule.target()),
    counters: (): PolicyCounters => ({ evaluations, highPeriods, actions, steps, maxPct }),
  };
}
