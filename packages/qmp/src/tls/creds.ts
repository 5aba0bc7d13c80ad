/**
 * `tls-creds-x509` (QEMU's crypto/tlscredsx509.c): x509 credentials loaded from a directory of
 * PEM files named as QEMU names them — `ca-cert.pem`, `server-cert.pem` + `server-key.pem` (server
 * endpoint), `client-cert.pem` + `client-key.pem` (client endpoint; optional unless the server
 * asks for one). Files are read when the object is created, as QEMU does.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { QmpError } from "../errors";
import { parseBool } from "./object-spec";

/** The largest credentials file read (a PEM bundle of a few certificates fits easily). */
export const MAX_CREDS_FILE_BYTES = 1 << 20;

/** Loaded x509 credentials. */
export interface TlsCredsX509 {
  readonly qomType: "tls-creds-x509";
  readonly id: string;
  readonly dir: string;
  /** Which side of a TLS session these credentials are for. */
  readonly endpoint: "server" | "client";
  /** Verify the peer's certificate (a server then requires one from the client). Default true. */
  readonly verifyPeer: boolean;
  /** PEM of the trusted CA certificates (absent when not verifying and no file exists). */
  readonly ca?: Buffer;
  /** This endpoint's certificate chain and key (PEM); a client's are optional. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

function load(dir: string, name: string, required: boolean): Buffer | undefined {
  const path = join(dir, name);
  try {
    accessSync(path, constants.R_OK);
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_CREDS_FILE_BYTES) {
      throw new Error(`larger than ${MAX_CREDS_FILE_BYTES} bytes`);
    }
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === "ENOENT") return undefined;
    const why = code === "ENOENT" ? "No such file or directory" : (e as Error).message;
    throw new QmpError(`Unable to access credentials ${path}: ${why}`);
  }
}

/** Create a `tls-creds-x509` object from its properties (`dir`, `endpoint`, `verify-peer`). */
export function createTlsCredsX509(
  id: string,
  props: Readonly<Record<string, unknown>>,
): TlsCredsX509 {
  const { dir, endpoint = "client", "verify-peer": verify = true, ...rest } = props;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new QmpError(`Property 'tls-creds-x509.${extra}' not found`);
  if (typeof dir !== "string" || dir === "") throw new QmpError("Parameter 'dir' is missing");
  if (endpoint !== "server" && endpoint !== "client") {
    throw new QmpError(`Parameter 'endpoint' does not accept value '${String(endpoint)}'`);
  }
  const verifyPeer = parseBool(verify, "verify-peer");
  const role = endpoint;
  const ca = load(dir, "ca-cert.pem", verifyPeer);
  const cert = load(dir, `${role}-cert.pem`, role === "server");
  const key = load(dir, `${role}-key.pem`, role === "server" || cert !== undefined);
  if (key !== undefined && cert === undefined) {
    throw new QmpError(
      `Unable to access credentials ${join(dir, `${role}-cert.pem`)}: No such file or directory`,
    );
  }
  return {
    qomType: "tls-creds-x509",
    id,
    dir,
    endpoint,
    verifyPeer,
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
  };
}
