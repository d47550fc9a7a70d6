/** Small text helpers for the page: language hints, times, avatars. */

/**
 * A `lang` for text in Chinese, Japanese or Korean script, so the browser picks the right glyphs
 * and screen readers the right voice; undefined for anything else (the page's own language).
 */
export function langOf(text: string): string | undefined {
  if (/[\u3040-\u30ff]/u.test(text)) return 'ja';
  if (/[\uac00-\ud7af]/u.test(text)) return 'ko';
  if (/\p{Script=Han}/u.test(text)) return 'zh';
  return undefined;
}

/** `HH:MM` today, else `YYYY-MM-DD HH:MM`, in local time. */
export function shortTime(at: number, now = Date.now()): string {
  const d = new Date(at);
  const two = (n: number): string => String(n).padStart(2, '0');
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  return new Date(now).toDateString() === d.toDateString() ? hm : `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${hm}`;
}

/** The first character of a name (a whole emoji or CJK character), for its avatar. */
export function initial(name: string): string {
  const first = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(name)][0]?.segment ?? '?';
  return first.toUpperCase();
}

/** One of eight avatar colours, the same for a name everywhere. */
export function colourOf(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return h % 8;
}
