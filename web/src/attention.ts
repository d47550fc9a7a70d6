/**
 * Getting the user's attention for messages they have not seen: the document title flashes while
 * anything is unread, and a desktop notification appears when the page is hidden (if the user
 * allowed notifications; permission is asked on a click, never on load).
 */
export const BASE_TITLE = 'qim';

/** The flashing title for `n` unread messages (`on`: the half of the flash that shows the count). */
export function flashTitle(n: number, on: boolean): string {
  if (n === 0 || !on) return BASE_TITLE;
  return `(${n}) new message${n === 1 ? '' : 's'} — ${BASE_TITLE}`;
}

/** Asks for notification permission; call from a click or key handler. */
export function askNotifications(): void {
  if (typeof Notification === 'undefined' || Notification.permission !== 'default') return;
  void Notification.requestPermission().catch(() => {});
}

export function notificationsAllowed(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'granted';
}

/** A desktop notification for a message from `from`, when the page is hidden. */
export function notify(from: string, text: string, onClick: () => void): void {
  if (!document.hidden || !notificationsAllowed()) return;
  try {
    const n = new Notification(`${from} — ${BASE_TITLE}`, { body: text.length > 200 ? `${text.slice(0, 200)}…` : text, tag: `qim:${from}` });
    n.onclick = () => {
      window.focus();
      onClick();
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker: the title still flashes.
  }
}
