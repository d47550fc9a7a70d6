/**
 * Checks what a page sends before anything acts on it: one zod schema per {@link PageMessage}.
 */
import { z } from 'zod';
import { MAX_WEB_TEXT, STATUSES, type PageMessage } from './protocol.js';

const name = z.string().min(1).max(64);
const ref = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional();

const schema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('login'), server: z.string().min(3).max(300), name, ref }),
  z.object({ type: z.literal('send'), to: name, text: z.string().min(1).max(MAX_WEB_TEXT), ref }),
  z.object({ type: z.literal('typing'), to: name, typing: z.boolean(), ref }),
  z.object({ type: z.literal('history'), peer: name, before: z.number().int().positive().optional(), ref }),
  z.object({ type: z.literal('read'), peer: name, ref }),
  z.object({ type: z.literal('status'), status: z.enum(STATUSES), ref }),
  z.object({ type: z.literal('trust'), name, ref }),
  z.object({ type: z.literal('dismiss'), id: z.number().int().nonnegative(), ref }),
  z.object({ type: z.literal('logout'), ref }),
]);

// The schema and the documented type must describe the same messages.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.infer<typeof schema>, PageMessage> = true;
void schemaMatchesType;

/** A valid message, or why not (for the `error` answer); `ref` is the request's when readable. */
export function parsePageMessage(json: unknown): { ok: true; message: PageMessage } | { ok: false; reason: string; ref?: number } {
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : ` (${issue.path.join('.')})`;
  const r = refOf(json);
  return { ok: false, reason: `not a message this client understands: ${issue?.message ?? 'invalid'}${where}`, ...(r !== undefined ? { ref: r } : {}) };
}

/** The `ref` of a message that failed validation, when it has a usable one. */
function refOf(json: unknown): number | undefined {
  if (json === null || typeof json !== 'object') return undefined;
  const r = (json as { ref?: unknown }).ref;
  return typeof r === 'number' && Number.isSafeInteger(r) && r >= 0 ? r : undefined;
}
