/**
 * Terminal presentation helpers: colour only when the output is a colour terminal, and text from
 * the network made safe to print (no escape sequences from a peer can reach the terminal).
 */
const colour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

const paint = (code: string) => (s: string): string => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint('1');
export const dim = paint('2');
export const cyan = paint('36');
export const green = paint('32');
export const yellow = paint('33');

// C0 and C1 controls (tab and newline excepted) and DEL: a peer's message could otherwise move the
// cursor, retitle the window or clear the screen.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/gu;

/** `text` with control characters replaced by U+FFFD. */
export function safe(text: string): string {
  return text.replace(CONTROL, '\ufffd');
}

/** Local wall-clock time as HH:MM:SS (the same text classic puts in a talk). */
export { classicTime as clock } from '../protocol/classic/datagram.js';
