/**
 * Typed QMP commands. A {@link CommandSpec} is the wire contract (name, zod schema of `arguments`,
 * zod schema of the return value) shared by server and client; a {@link QmpCommand} adds the
 * server's handler.
 */
import type { z } from "zod";

/** The wire contract of a command. */
export interface CommandSpec<A extends z.ZodObject = z.ZodObject, R extends z.ZodType = z.ZodType> {
  /** The command name (`query-status`). */
  readonly name: string;
  /** The `arguments` object schema (members checked QEMU's way, then parsed with defaults). */
  readonly args: A;
  /** The return value's schema. */
  readonly returns: R;
  /** Whether `exec-oob` may run it (QEMU's `allow-oob`). */
  readonly allowOob?: boolean;
}

/** What a handler may ask of the monitor session that runs it. */
export interface CommandContext {
  /** The session's number (1, 2, … per server). */
  readonly session: number;
}

/** A command the server can run. */
export interface QmpCommand<A extends z.ZodObject = z.ZodObject, R extends z.ZodType = z.ZodType>
  extends CommandSpec<A, R> {
  /** Run it; throw a `QmpError` to answer an error. */
  run(args: z.output<A>, ctx: CommandContext): z.output<R> | Promise<z.output<R>>;
}

/** Declare a command's wire contract. */
export function commandSpec<A extends z.ZodObject, R extends z.ZodType>(
  spec: CommandSpec<A, R>,
): CommandSpec<A, R> {
  return spec;
}

/** Attach a handler to a spec. */
export function defineCommand<A extends z.ZodObject, R extends z.ZodType>(
  spec: CommandSpec<A, R>,
  run: QmpCommand<A, R>["run"],
): QmpCommand<A, R> {
  return { ...spec, run };
}

/** A command with erased types (what the server stores). */
export interface AnyQmpCommand {
  readonly name: string;
  readonly args: z.ZodObject;
  readonly returns: z.ZodType;
  readonly allowOob?: boolean;
  run(args: never, ctx: CommandContext): unknown;
}

/** A table of specs keyed by name (what a typed client is parameterized by). */
export type SpecTable = { readonly [name: string]: CommandSpec<z.ZodObject, z.ZodType> };

/** Argument type (input side, defaults optional) of a spec. */
export type ArgsOf<S> = S extends CommandSpec<infer A, z.ZodType> ? z.input<A> : never;
/** Return type of a spec. */
export type ResultOf<S> = S extends CommandSpec<z.ZodObject, infer R> ? z.output<R> : never;
