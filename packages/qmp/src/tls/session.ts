/**
 * TLS sessions over an accepted or connected socket (QEMU's crypto/tlssession.c, with Node's
 * `tls`): the client checks the server's certificate against its CA and the expected hostname
 * (`tls-hostname`, else the host it connected to); the server asks for the client's certificate
 * when `verify-peer` is on, checks it against its CA, then against `tls-authz` by the
 * certificate's distinguished name. Every handshake has a timeout.
 */
import type { Socket } from "node:net";
import { isIP } from "node:net";
import {
  checkServerIdentity,
  connect,
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  TLSSocket,
} from "node:tls";
import { X509Certificate } from "node:crypto";
import type { Authz } from "./authz";
import type { TlsCredsX509 } from "./creds";

/** A peer that is not the intended one, or a handshake that failed. */
export class TlsRefusedError extends Error {
  override readonly name = "TlsRefusedError";
  /** The secured socket when the handshake completed (the refusal can be told to the peer). */
  readonly socket: TLSSocket | null;
  constructor(message: string, socket: TLSSocket | null = null) {
    super(message);
    this.socket = socket;
  }
}

/** What a TLS client needs. */
export interface TlsClientSetup {
  /** Credentials with `endpoint: client`. */
  readonly creds: TlsCredsX509;
  /** The name the server's certificate must carry (DNS name or IP address). */
  readonly hostname: string;
}

/** What a TLS server needs. */
export interface TlsServerSetup {
  /** Credentials with `endpoint: server`. */
  readonly creds: TlsCredsX509;
  /** Allowed client identities (the certificate's distinguished name); absent = any verified. */
  readonly authz?: Authz;
}

const contexts = new WeakMap<TlsCredsX509, SecureContext>();
function contextOf(creds: TlsCredsX509): SecureContext {
  let ctx = contexts.get(creds);
  if (ctx === undefined) {
    ctx = createSecureContext({
      ...(creds.ca !== undefined ? { ca: creds.ca } : {}),
      ...(creds.cert !== undefined ? { cert: creds.cert } : {}),
      ...(creds.key !== undefined ? { key: creds.key } : {}),
      minVersion: "TLSv1.2",
    });
    contexts.set(creds, ctx);
  }
  return ctx;
}

/**
 * A certificate's subject as an RFC 4514 distinguished name, most specific first, as GnuTLS
 * prints it for QEMU's `tls-authz` (`CN=client.example,O=Example Org,C=GB`).
 */
export function distinguishedName(raw: Buffer): string {
  const lines = new X509Certificate(raw).subject.split("\n").filter((l) => l !== "");
  return lines
    .reverse()
    .map((l) => {
      const eq = l.indexOf("=");
      const value = l.slice(eq + 1).replace(/[,+"\\<>;]/g, "\\$&");
      return `${l.slice(0, eq)}=${value}`;
    })
    .join(",");
}

function withTimeout(
  socket: Socket,
  timeoutMs: number,
  what: string,
  run: (resolve: (s: TLSSocket) => void, reject: (e: Error) => void) => TLSSocket,
): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    let settled = false;
    let tls: TLSSocket | null = null;
    const timer = setTimeout(() => {
      fail(new TlsRefusedError(`TLS handshake ${what} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const refused =
        e instanceof TlsRefusedError
          ? e
          : new TlsRefusedError(`TLS handshake ${what} failed: ${e.message}`);
      if (refused.socket === null) {
        tls?.destroy();
        socket.destroy();
      }
      reject(refused);
    };
    const ok = (s: TLSSocket): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.off("error", fail);
      // The owner attaches its own error listener when it takes the socket; until then (and
      // after, as a second listener) a reset by the peer must not become an uncaught exception.
      s.on("error", ignoreSocketError);
      resolve(s);
    };
    socket.once("close", () => fail(new Error("connection closed by the peer")));
    tls = run(ok, fail);
    tls.on("error", fail);
  });
}

/** Secure a connected socket as the client; rejects with {@link TlsRefusedError}. */
export function tlsClient(
  socket: Socket,
  setup: TlsClientSetup,
  timeoutMs: number,
): Promise<TLSSocket> {
  const { creds, hostname } = setup;
  return withTimeout(socket, timeoutMs, `with ${hostname}`, (ok, fail) => {
    // Verified by hand below (rejectUnauthorized off) to name the reason as QEMU does.
    const tls = connect({
      socket,
      secureContext: contextOf(creds),
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    });
    tls.once("secureConnect", () => {
      if (creds.verifyPeer) {
        if (!tls.authorized) {
          const why = tlsVerifyError(tls) ?? String(tls.authorizationError);
          tls.destroy();
          fail(new TlsRefusedError(`TLS peer certificate refused: ${why}`));
          return;
        }
        const peer = tls.getPeerCertificate() as PeerCertificate;
        if (checkServerIdentity(hostname, peer) !== undefined) {
          tls.destroy();
          fail(new TlsRefusedError(`Certificate does not match the hostname ${hostname}`));
          return;
        }
      }
      ok(tls);
    });
    return tls;
  });
}

function tlsVerifyError(tls: TLSSocket): string | null {
  const e = (tls as TLSSocket & { ssl?: { verifyError(): Error | null } }).ssl?.verifyError();
  return e ? e.message : null;
}

/** Secure an accepted socket as the server; rejects with {@link TlsRefusedError}. */
export function tlsServer(
  socket: Socket,
  setup: TlsServerSetup,
  timeoutMs: number,
): Promise<TLSSocket> {
  const { creds, authz } = setup;
  return withTimeout(socket, timeoutMs, "with the client", (ok, fail) => {
    const tls = new TLSSocket(socket, {
      secureContext: contextOf(creds),
      isServer: true,
      requestCert: creds.verifyPeer,
      rejectUnauthorized: false,
    });
    tls.once("secure", () => {
      if (creds.verifyPeer) {
        const raw = tls.getPeerCertificate()?.raw;
        if (raw === undefined || raw.length === 0) {
          fail(
            new TlsRefusedError(
              "TLS peer certificate refused: the client sent no certificate",
              tls,
            ),
          );
          return;
        }
        const err = tlsVerifyError(tls);
        if (err !== null) {
          fail(new TlsRefusedError(`TLS peer certificate refused: ${err}`, tls));
          return;
        }
        if (authz !== undefined) {
          const dn = distinguishedName(raw);
          if (!authz.isAllowed(dn)) {
            fail(new TlsRefusedError(`TLS x509 authz check for ${dn} is denied`, tls));
            return;
          }
        }
      } else if (authz !== undefined) {
        fail(new TlsRefusedError("TLS x509 authz needs verify-peer=on to know the client", tls));
        return;
      }
      ok(tls);
    });
    return tls;
  });
}

/** Keeps a secured socket's late errors (a peer reset) from crashing the process; the socket's
 * owner sees them through its own listener or its `close`. */
function ignoreSocketError(): void {}
