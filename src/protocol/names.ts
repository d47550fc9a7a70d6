/**
 * What a user name may be. The classic protocol has no escaping, so `,` and `;` would split
 * fields and list entries; control characters would let a name rewrite someone's terminal or break
 * the line-oriented client output. Chinese, emoji and spaces inside a name are fine.
 */
export const DEFAULT_MAX_NAME_LENGTH = 32;

// C0 controls, DEL, C1 controls, line and paragraph separators, bidi overrides and isolates.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069,;]/u;

/** Returns why `name` is not acceptable, or null when it is. */
export function nameProblem(name: string, maxLength = DEFAULT_MAX_NAME_LENGTH): string | null {
  if (name.length === 0) return 'name is empty';
  if (name.length > maxLength) return `name is longer than ${maxLength} characters`;
  if (name.trim() !== name) return 'name starts or ends with a space';
  const bad = FORBIDDEN.exec(name);
  if (bad !== null) {
    const ch = bad[0];
    return ch === ',' || ch === ';' ? `name contains "${ch}"` : 'name contains a control character';
  }
  return null;
}
