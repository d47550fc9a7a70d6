/** The chat screen: who I am, warnings, the online and recent lists and the open conversations. */
import type { ComponentChildren } from 'preact';
import { STATUSES, type WebContact, type WebConversation, type WebStatus, type WebWarning } from '../../../src/web/protocol.js';
import type { Model, View } from '../model';
import { offlineRecent, type ChatState } from '../state';
import { colourOf, initial, langOf, shortTime } from '../text';
import { Conversations } from './conversation';

export function ChatScreen({ model, view, chat }: { model: Model; view: View; chat: ChatState }) {
  const contacts = [...chat.contacts.values()].sort((a, b) => a.name.localeCompare(b.name));
  const recent = offlineRecent(chat);
  return (
    <div class="chat-screen" data-pane={view.pane}>
      <header class="top">
        <span class="brand" aria-hidden="true">
          qim
        </span>
        <div class="me">
          <Avatar name={chat.me.name} />
          <span class="me-name" lang={langOf(chat.me.name)}>
            {chat.me.name}
          </span>
          <details class="key">
            <summary>Your key</summary>
            <div class="key-pop">
              <p>
                Fingerprint <code class="fingerprint">{chat.me.fingerprint}</code>
              </p>
              <p>
                Server <code>{chat.me.server}</code>, chat endpoint <code>{chat.me.endpoint}</code>
              </p>
            </div>
          </details>
        </div>
        <span class="status-choice">
          <label for="my-status" class="visually-hidden">
            Status
          </label>
          <select id="my-status" value={chat.me.status ?? 'online'} onChange={(e) => model.setStatus(e.currentTarget.value as WebStatus)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </span>
        <button type="button" class="logout" onClick={() => model.logout()}>
          Log out
        </button>
      </header>
      {chat.link !== 'online' && (
        <p class="conn-banner" role="status">
          Lost contact with the server; reconnecting… Conversations already open keep going peer to peer.
        </p>
      )}
      {view.banner !== null && (
        <div class="banner error" role="alert">
          <span>{view.banner}</span>
          <button type="button" onClick={() => model.dismissBanner()}>
            Dismiss
          </button>
        </div>
      )}
      <Warnings warnings={chat.warnings} onDismiss={(id) => model.dismiss(id)} />
      <div class="panes">
        <nav class="contacts-pane" aria-label="Contacts">
          <h2 id="online-heading">
            Online <span class="count">({contacts.length})</span>
          </h2>
          {contacts.length === 0 && <p class="placeholder">Nobody else is online yet. Open another tab and log in with another name to try.</p>}
          <ul class="contacts" aria-labelledby="online-heading">
            {contacts.map((c) => (
              <ContactItem key={c.name} contact={c} unread={chat.unread[c.name] ?? 0} active={chat.active === c.name} onOpen={() => model.open(c.name)} />
            ))}
          </ul>
          {recent.length > 0 && (
            <>
              <h2 id="recent-heading" title="People you have talked with who are not online: what you write waits for them at the server, sealed">
                Recent <span class="count">({recent.length})</span>
              </h2>
              <ul class="contacts recent" aria-label="Recent conversations">
                {recent.map((c) => (
                  <RecentItem key={c.peer} conversation={c} unread={chat.unread[c.peer] ?? 0} active={chat.active === c.peer} onOpen={() => model.open(c.peer)} />
                ))}
              </ul>
            </>
          )}
        </nav>
        <Conversations model={model} chat={chat} />
      </div>
    </div>
  );
}

const PATH_TIPS = {
  direct: 'messages go straight to them',
  punched: 'messages go straight to them, through their NAT (hole punched)',
  relayed: "messages go through the server's relay, still end-to-end encrypted",
} as const;

function ContactItem({ contact: c, unread, active, onOpen }: { contact: WebContact; unread: number; active: boolean; onOpen: () => void }) {
  const status = c.status ?? 'online';
  const tip = c.fingerprint !== undefined ? `${c.name} — key ${c.fingerprint}` : `${c.name} — classic protocol, unencrypted`;
  return (
    <PersonItem name={c.name} tip={tip} unread={unread} active={active} onOpen={onOpen}>
      <span class={`status status-${status}`}>{status}</span>
      {c.protocol === 'classic' && <span class="tag unencrypted">unencrypted</span>}
      {c.keyChanged === true && <span class="tag key-changed">key changed</span>}
      {c.path !== undefined && (
        <span class={`tag path path-${c.path}`} title={PATH_TIPS[c.path]}>
          {c.path}
        </span>
      )}
    </PersonItem>
  );
}

/** Someone with history here who is not online now. */
function RecentItem({ conversation: c, unread, active, onOpen }: { conversation: WebConversation; unread: number; active: boolean; onOpen: () => void }) {
  const when = shortTime(c.at);
  return (
    <PersonItem name={c.peer} tip={`${c.peer} — offline; messages wait for them at the server`} unread={unread} active={active} onOpen={onOpen}>
      <span class="status status-offline">offline</span>
      <time dateTime={new Date(c.at).toISOString()} title={`last message ${when}`}>
        {when}
      </time>
    </PersonItem>
  );
}

/** One person in a list (online or recent): avatar, name, what `children` say of them, unread badge. */
function PersonItem(props: { name: string; tip: string; unread: number; active: boolean; onOpen: () => void; children: ComponentChildren }) {
  const { name, active } = props;
  return (
    <li class={active ? 'contact-item active' : 'contact-item'}>
      <button type="button" class="contact" onClick={props.onOpen} aria-current={active ? 'true' : undefined} title={props.tip}>
        <Avatar name={name} />
        <span class="contact-main">
          <span class="contact-name" lang={langOf(name)}>
            {name}
          </span>
          <span class="contact-meta">{props.children}</span>
        </span>
        <Badge count={props.unread} />
      </button>
    </li>
  );
}

export function Badge({ count }: { count: number }) {
  if (count === 0) return null;
  return (
    <span class="badge" role="img" aria-label={`${count} unread`}>
      {count > 99 ? '99+' : count}
    </span>
  );
}

export function Avatar({ name }: { name: string }) {
  return (
    <span class={`avatar c${colourOf(name)}`} aria-hidden="true" lang={langOf(name)}>
      {initial(name)}
    </span>
  );
}

const WARNING_TITLES: Record<string, string> = {
  'key-mismatch': 'Key mismatch',
  'peer-key-changed': 'Key changed',
  'server-key-changed': 'Server key changed',
  'handshake-failed': 'No secure session',
  unencrypted: 'Unencrypted',
};

function Warnings({ warnings, onDismiss }: { warnings: readonly WebWarning[]; onDismiss: (id: number) => void }) {
  if (warnings.length === 0) return null;
  return (
    <div class="warnings">
      {warnings.map((w) => (
        <div key={w.id} class={`banner warning warning-${w.code}`} role="alert">
          <span>
            <strong>{WARNING_TITLES[w.code] ?? w.code}</strong>
            {w.peer !== undefined && (
              <>
                {' '}
                (<span lang={langOf(w.peer)}>{w.peer}</span>)
              </>
            )}
            : {w.message}
          </span>
          <button type="button" onClick={() => onDismiss(w.id)} aria-label={`Dismiss warning: ${WARNING_TITLES[w.code] ?? w.code}`}>
            Dismiss
          </button>
        </div>
      ))}
    </div>
  );
}
