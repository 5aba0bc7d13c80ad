/**
 * A TLS connection over loopback for transport tests, with the QMP package's fixture
 * certificates (packages/qmp/test/fixtures/tls/good): the accepted end is left paused, as the
 * migration listener leaves it.
 */
import { readFileSync } from "node:fs";
import type { Server } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";

const FIXTURES = new URL("../../qmp/test/fixtures/tls/good/", import.meta.url);
const pem = (f: string): Buffer => readFileSync(new URL(f, FIXTURES));

/** `clientCert`: the server asks for a certificate and the client presents one. */
export async function tlsPair(
  clientCert = false,
): Promise<{ server: Server; client: TLSSocket; peer: TLSSocket }> {
  let server: Server | null = null;
  const peer = new Promise<TLSSocket>((resolve) => {
    server = createServer(
      {
        key: pem("server-key.pem"),
        cert: pem("server-cert.pem"),
        ...(clientCert ? { ca: pem("ca-cert.pem"), requestCert: true } : {}),
      },
      (s) => {
        s.pause();
        resolve(s);
      },
    );
  });
  const s = server as unknown as Server;
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const client = connect({
    host: "127.0.0.1",
    port: (s.address() as { port: number }).port,
    servername: "localhost",
    ca: pem("ca-cert.pem"),
    ...(clientCert ? { key: pem("client-key.pem"), cert: pem("client-cert.pem") } : {}),
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((r, j) => client.once("secureConnect", () => r()).once("error", j));
  return { server: s, client, peer: await peer };
}
