/** QMP errors: QEMU's error classes and the error a command handler throws to answer one. */

/** QEMU's QapiErrorClass values. */
export type QmpErrorClass =
  | "GenericError"
  | "CommandNotFound"
  | "DeviceNotActive"
  | "DeviceNotFound"
  | "KVMMissingCap";

/** A command failed: answered as `{"error": {"class", "desc"}}`. */
export class QmpError extends Error {
  override readonly name = "QmpError";
  /** QEMU's error class. */
  readonly errorClass: QmpErrorClass;
  constructor(desc: string, errorClass: QmpErrorClass = "GenericError") {
    super(desc);
    this.errorClass = errorClass;
  }
}

/** An `error` response received by the client, or a client-side protocol failure. */
export class QmpClientError extends Error {
  override readonly name = "QmpClientError";
  /** The server's error class, or `ProtocolError` / `Timeout` / `Closed` for client-side failures. */
  readonly errorClass: QmpErrorClass | "ProtocolError" | "Timeout" | "Closed";
  constructor(message: string, errorClass: QmpClientError["errorClass"]) {
    super(message);
    this.errorClass = errorClass;
  }
}
