/** The open conversations: one tab each, the lines of the shown one, and the message box. */
import { useEffect, useRef } from 'preact/hooks';
import type { WebEntry } from '../../../src/web/protocol.js';
import type { Model } from '../model';
import type { ChatState } from '../state';
import { langOf, shortTime } from '../text';
import { Badge } from './chat-screen';

export function Conversations({ model, chat }: { model: Model; chat: ChatState }) {
  const active = chat.active;
  const tabs = useRef<HTMLDivElement>(null);
  if (chat.tabs.length === 0 || active === null) {
    return (
      <main class="conversation-pane empty">
        <p class="placeholder">Choose someone in the online or recent list to start a conversation.</p>
      </main>
    );
  }
  const index = chat.tabs.indexOf(active);
  const moveTo = (i: number): void => {
    const peer = chat.tabs[(i + chat.tabs.length) % chat.tabs.length];
    if (peer === undefined) return;
    model.open(peer);
    tabs.current?.querySelectorAll<HTMLButtonElement>('[role=tab]')[(i + chat.tabs.length) % chat.tabs.length]?.focus();
  };
  return (
    <main class="conversation-pane">
      <div class="tabs" role="tablist" aria-label="Open conversations" ref={tabs}>
        {chat.tabs.map((peer, i) => (
          <div key={peer} class={peer === active ? 'tab active' : 'tab'}>
            <button
              type="button"
              role="tab"
              id={`conversation-tab-${i}`}
              aria-selected={peer === active}
              aria-controls="conversation-panel"
              tabIndex={peer === active ? 0 : -1}
              onClick={() => model.open(peer)}
              onKeyDown={(e) => {
                if (e.key === 'ArrowRight') moveTo(i + 1);
                else if (e.key === 'ArrowLeft') moveTo(i - 1);
              }}
            >
              <span lang={langOf(peer)}>{peer}</span>
              {!chat.contacts.has(peer) && <span class="offline"> (offline)</span>}
              <Badge count={chat.unread[peer] ?? 0} />
            </button>
            <button type="button" class="tab-close" aria-label={`Close the conversation with ${peer}`} onClick={() => model.close(peer)}>
              ×
            </button>
          </div>
        ))}
      </div>
      <Panel key={active} model={model} chat={chat} peer={active} tabId={`conversation-tab-${index}`} />
    </main>
  );
}

function Panel({ model, chat, peer, tabId }: { model: Model; chat: ChatState; peer: string; tabId: string }) {
  const contact = chat.contacts.get(peer);
  const lines = chat.lines[peer] ?? [];
  const draft = chat.drafts[peer] ?? '';
  const notice = chat.notices[peer];
  const typing = chat.typing[peer] !== undefined;
  const list = useRef<HTMLOListElement>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const last = lines[lines.length - 1];

  // A new line scrolls into view when the reader was at the bottom, or when it is our own.
  const lastId = last?.id;
  const lastOut = last?.direction === 'out';
  useEffect(() => {
    const el = list.current;
    if (el === null) return;
    const nearBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
    if (nearBottom || lastOut) el.scrollTo({ top: el.scrollHeight });
  }, [lastId, lastOut]);
  useEffect(() => {
    const el = list.current;
    el?.scrollTo({ top: el.scrollHeight });
  }, [chat.loaded]);
  // Switching to a conversation puts the cursor in its message box (not on a phone: the keyboard would cover it).
  useEffect(() => {
    if (!window.matchMedia('(max-width: 599px)').matches) box.current?.focus();
  }, []);

  const status = contact === undefined ? 'offline' : (contact.status ?? 'online');
  return (
    <div class="panel" role="tabpanel" id="conversation-panel" aria-labelledby={tabId}>
      <header class="peer-head">
        <button type="button" class="back" onClick={() => model.back()} aria-label="Back to the online list">
          ←
        </button>
        <h2 lang={langOf(peer)}>{peer}</h2>
        <span class={`status status-${status}`}>{status}</span>
        {contact !== undefined && (
          <details class="key">
            <summary>{contact.protocol === 'classic' ? 'Unencrypted (classic)' : 'End-to-end encrypted'}</summary>
            {contact.fingerprint !== undefined ? (
              <p>
                Their key <code class="fingerprint">{contact.fingerprint}</code>: compare it with what {peer} sees as their own.
              </p>
            ) : (
              <p>{peer} uses the classic protocol: messages travel in clear text, and delivery is not confirmed.</p>
            )}
            <p>
              Endpoint <code>{contact.endpoint}</code>
            </p>
          </details>
        )}
        {contact?.keyChanged === true && (
          <button type="button" onClick={() => model.trust(peer)}>
            Trust new key
          </button>
        )}
      </header>
      {contact === undefined && (
        <p class="offline-note">
          <span lang={langOf(peer)}>{peer}</span> is not online: what you write now waits for them at the server, sealed so that only they can read it (at
          most 700 bytes), and is delivered when they log in.
        </p>
      )}
      {chat.more.has(peer) && (
        <button type="button" class="older" onClick={() => model.loadOlder(peer)}>
          Load older messages
        </button>
      )}
      <ol class="messages" ref={list} aria-label={`Conversation with ${peer}`} tabIndex={0}>
        {!chat.loaded.has(peer) && lines.length === 0 && <li class="placeholder">Loading history…</li>}
        {chat.loaded.has(peer) && lines.length === 0 && <li class="placeholder">No messages yet. Say hello!</li>}
        {lines.map((e) => (
          <Line key={e.id} entry={e} onRetry={() => model.retry(e)} />
        ))}
      </ol>
      <p class="typing">{typing ? `${peer} is typing…` : ''}</p>
      {notice !== undefined && (
        <div class="banner error" role="alert">
          <span>{notice}</span>
          <button type="button" onClick={() => model.dismissNotice(peer)}>
            Dismiss
          </button>
        </div>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          model.send(peer);
        }}
      >
        <label for="message-box" class="composer-label">
          Message
        </label>
        <textarea
          id="message-box"
          ref={box}
          rows={2}
          value={draft}
          placeholder={`Message ${peer} (Enter sends, Shift+Enter: new line)`}
          onInput={(e) => model.draft(peer, e.currentTarget.value)}
          onKeyDown={(e) => {
            // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition (pinyin…) is not a send.
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
              e.preventDefault();
              model.send(peer);
            }
          }}
        />
        <button type="submit">Send</button>
      </form>
    </div>
  );
}

const STATE_LABELS: Record<WebEntry['state'], string> = {
  sending: 'sending',
  sent: 'sent',
  stored: 'stored (they are offline)',
  delivered: 'delivered',
  failed: 'failed',
  received: '',
};

function Line({ entry: e, onRetry }: { entry: WebEntry; onRetry: () => void }) {
  const out = e.direction === 'out';
  return (
    <li class={out ? 'line out' : 'line in'}>
      <div class="bubble" lang={langOf(e.text)}>
        {e.text}
      </div>
      <div class="meta">
        <time dateTime={new Date(e.at).toISOString()}>{shortTime(e.at)}</time>
        {!e.encrypted && <span class="tag unencrypted">unencrypted</span>}
        {out && <span class={`delivery delivery-${e.state}`}>{STATE_LABELS[e.state]}</span>}
        {out && e.state === 'failed' && (
          <button type="button" class="retry" onClick={onRetry}>
            Retry
          </button>
        )}
      </div>
    </li>
  );
}
