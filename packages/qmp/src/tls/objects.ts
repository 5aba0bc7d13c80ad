/**
 * The user-creatable objects of a ferry process (QEMU's `/objects` container): TLS credentials
 * and authorization lists, created by `--object` on the command line or `object-add` over QMP,
 * looked up by id when a migration or a monitor connection needs them (so they can be replaced
 * between migrations, as QEMU resolves `tls-creds` / `tls-authz` at time of use).
 */
import { QmpError } from "../errors";
import { type Authz, createAuthzList, createAuthzSimple } from "./authz";
import { createTlsCredsX509, type TlsCredsX509 } from "./creds";
import { type ObjectSpec, parseObjectSpec } from "./object-spec";

/** Any object the store holds. */
export type UserObject = TlsCredsX509 | Authz;

/** The object types ferry creates. */
export const OBJECT_TYPES = ["tls-creds-x509", "authz-simple", "authz-list"] as const;

/** The objects of one process. */
export interface ObjectStore {
  /** Create an object (QEMU's messages for a duplicate id or an unknown type). */
  add(spec: ObjectSpec): UserObject;
  /** Parse a `--object` value and create it. */
  addText(text: string): UserObject;
  /** Delete by id. */
  del(id: string): void;
  /** Every object, in creation order. */
  list(): readonly UserObject[];
  /** The TLS credentials `id`, which must have `endpoint` (migration: `server` when receiving). */
  tlsCreds(id: string, endpoint: "server" | "client"): TlsCredsX509;
  /** The authorization object `id`. */
  authz(id: string): Authz;
}

/** An empty store. */
export function createObjectStore(): ObjectStore {
  const objects = new Map<string, UserObject>();
  const store: ObjectStore = {
    add(spec) {
      if (objects.has(spec.id)) {
        throw new QmpError(
          `attempt to add duplicate property '${spec.id}' to object (type 'container')`,
        );
      }
      let obj: UserObject;
      switch (spec.qomType) {
        case "tls-creds-x509":
          obj = createTlsCredsX509(spec.id, spec.props);
          break;
        case "authz-simple":
          obj = createAuthzSimple(spec.id, spec.props);
          break;
        case "authz-list":
          obj = createAuthzList(spec.id, spec.props);
          break;
        default:
          throw new QmpError(`invalid object type: ${spec.qomType}`);
      }
      objects.set(spec.id, obj);
      return obj;
    },
    addText: (text) => store.add(parseObjectSpec(text)),
    del(id) {
      if (!objects.delete(id)) throw new QmpError(`object '${id}' not found`);
    },
    list: () => [...objects.values()],
    tlsCreds(id, endpoint) {
      const o = objects.get(id);
      if (o === undefined || o.qomType !== "tls-creds-x509") {
        throw new QmpError(`No TLS credentials with id '${id}'`);
      }
      if (o.endpoint !== endpoint) {
        throw new QmpError(`Expected TLS credentials for a ${endpoint} endpoint`);
      }
      return o;
    },
    authz(id) {
      const o = objects.get(id);
      if (o === undefined || o.qomType === "tls-creds-x509") {
        throw new QmpError(`Cannot find QAuthZ object ID ${id}`);
      }
      return o;
    },
  };
  return store;
}
