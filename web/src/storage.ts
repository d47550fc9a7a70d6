/**
 * What the page remembers. The login form (server, name) in localStorage, for every tab; the login
 * this tab is in, its open conversations and drafts in sessionStorage, so a reload re-attaches
 * while other tabs of the same browser can be other users.
 */
export interface LoginForm {
  readonly server: string;
  readonly name: string;
}

export interface TabMemory {
  readonly tabs: readonly string[];
  readonly active: string | null;
  readonly drafts: Readonly<Record<string, string>>;
}

const FORM = 'qim.web.form';
const SESSION = 'qim.web.session';
const tabsKey = (l: LoginForm): string => `qim.web.tabs:${l.server}:${l.name}`;

function read(storage: Storage, key: string): unknown {
  try {
    const text = storage.getItem(key);
    return text === null ? null : (JSON.parse(text) as unknown);
  } catch {
    return null;
  }
}

function write(storage: Storage, key: string, value: unknown): void {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the page works, it only forgets.
  }
}

function isLogin(v: unknown): v is LoginForm {
  return typeof v === 'object' && v !== null && typeof (v as LoginForm).server === 'string' && typeof (v as LoginForm).name === 'string';
}

export function rememberedForm(): LoginForm | null {
  const v = read(localStorage, FORM);
  return isLogin(v) ? v : null;
}

export function rememberForm(l: LoginForm): void {
  write(localStorage, FORM, { server: l.server, name: l.name });
}

/** The login this tab is in (survives a reload of this tab only). */
export function currentLogin(): LoginForm | null {
  const v = read(sessionStorage, SESSION);
  return isLogin(v) ? v : null;
}

export function setCurrentLogin(l: LoginForm | null): void {
  write(sessionStorage, SESSION, l === null ? null : { server: l.server, name: l.name });
}

export function tabMemory(l: LoginForm): TabMemory | null {
  const v = read(sessionStorage, tabsKey(l)) as Partial<TabMemory> | null;
  if (v === null || !Array.isArray(v.tabs)) return null;
  const tabs = v.tabs.filter((t): t is string => typeof t === 'string');
  const active = typeof v.active === 'string' && tabs.includes(v.active) ? v.active : null;
  const drafts: Record<string, string> = {};
  for (const [k, d] of Object.entries(v.drafts ?? {})) if (typeof d === 'string' && d !== '') drafts[k] = d;
  return { tabs, active, drafts };
}

export function rememberTabs(l: LoginForm, m: TabMemory | null): void {
  write(sessionStorage, tabsKey(l), m);
}
