/**
 * Authorization objects (QEMU's `authz-simple` and `authz-list`): decide whether an identity — for
 * TLS, the peer certificate's distinguished name in RFC 4514 form (`CN=…,O=…,C=…`) — is allowed.
 */
import { z } from "zod";
import { QmpError } from "../errors";

/** An authorization object. */
export interface Authz {
  readonly qomType: "authz-simple" | "authz-list";
  readonly id: string;
  /** Whether `identity` is allowed. */
  isAllowed(identity: string): boolean;
}

const policy = z.enum(["allow", "deny"]);
const rule = z.strictObject({
  match: z.string(),
  policy: policy.default("deny"),
  format: z.enum(["exact", "glob"]).default("exact"),
});

/** Shell-style glob (`*`, `?`) to a whole-string regular expression. */
function globRegex(glob: string): RegExp {
  let src = "";
  for (const c of glob) {
    if (c === "*") src += ".*";
    else if (c === "?") src += ".";
    else src += c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  }
  return new RegExp(`^${src}$`, "s");
}

/** `authz-simple,id=…,identity=…`: exactly one identity is allowed. */
export function createAuthzSimple(id: string, props: Readonly<Record<string, unknown>>): Authz {
  const { identity, ...rest } = props;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new QmpError(`Property 'authz-simple.${extra}' not found`);
  if (typeof identity !== "string") throw new QmpError("Parameter 'identity' is missing");
  return { qomType: "authz-simple", id, isAllowed: (who) => who === identity };
}

/**
 * `authz-list,id=…,policy=deny,rules.0.match=…,rules.0.policy=allow[,rules.0.format=glob]`: the
 * first matching rule decides, else the default `policy` (deny unless told).
 */
export function createAuthzList(id: string, props: Readonly<Record<string, unknown>>): Authz {
  const { policy: def, rules, ...rest } = props;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new QmpError(`Property 'authz-list.${extra}' not found`);
  const p = policy.default("deny").safeParse(def);
  if (!p.success) throw new QmpError(`Parameter 'policy' does not accept value '${String(def)}'`);
  const list = z.array(rule).default([]).safeParse(rules);
  if (!list.success) {
    const issue = list.error.issues[0]!;
    throw new QmpError(`Parameter 'rules.${issue.path.join(".")}': ${issue.message}`);
  }
  const compiled = list.data.map((r) => ({
    allow: r.policy === "allow",
    test:
      r.format === "glob"
        ? (
            (re: RegExp) => (s: string) =>
              re.test(s)
          )(globRegex(r.match))
        : (s: string) => s === r.match,
  }));
  const fallback = p.data === "allow";
  return {
    qomType: "authz-list",
    id,
    isAllowed(who) {
      for (const r of compiled) if (r.test(who)) return r.allow;
      return fallback;
    },
  };
}
