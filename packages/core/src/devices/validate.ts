/**
 * Validation of saved device state with zod, turning issues into one clear error.
 */
import type { z } from "zod";
import { StateValidationError } from "../errors";

/** Parse `state` with `schema` or throw a {@link StateValidationError} naming every bad field. */
export function parseState<T>(what: string, schema: z.ZodType<T>, state: unknown): T {
  const result = schema.safeParse(state);
  if (result.success) return result.data;
  const problems = result.error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
  throw new StateValidationError(`invalid ${what} state: ${problems}`);
}
