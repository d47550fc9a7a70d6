/** The page: the login screen or the chat screen, rendered from the model's view. */
import { useEffect, useState } from 'preact/hooks';
import { ChatScreen } from './components/chat-screen';
import { LoginScreen } from './components/login';
import type { Model } from './model';

export function App({ model }: { model: Model }) {
  const [view, setView] = useState(model.view);
  // Effects run after the first paint: a change in between (the socket's hello, say) would be lost
  // unless the view is read again once subscribed.
  useEffect(() => {
    const unsubscribe = model.subscribe(() => setView(model.view));
    setView(model.view);
    return unsubscribe;
  }, [model]);

  return (
    <>
      <p class="visually-hidden" aria-live="polite" aria-atomic="true">
        <span key={view.announce.id}>{view.announce.text}</span>
      </p>
      {view.conn !== 'open' && view.screen !== 'connecting' && (
        <p class="conn-banner" role="status">
          Lost contact with qim web; reconnecting… (Is <code>qim web</code> still running?)
        </p>
      )}
      {view.screen === 'connecting' && <Connecting everOpened={view.everOpened} down={view.conn === 'down'} />}
      {view.screen === 'login' && <LoginScreen model={model} view={view} />}
      {view.screen === 'chat' && view.chat !== null && <ChatScreen model={model} view={view} chat={view.chat} />}
    </>
  );
}

function Connecting({ everOpened, down }: { everOpened: boolean; down: boolean }) {
  return (
    <main class="centered">
      <h1 class="brand">qim</h1>
      {down && !everOpened ? (
        <p role="alert" class="error">
          Cannot reach qim web. It may have stopped, or it was restarted and this address's token is out of date: open the address it printed
          last. Trying again…
        </p>
      ) : (
        <p role="status">Connecting…</p>
      )}
    </main>
  );
}

/** Shown when the address has no token: only the address qim web printed works. */
export function NoToken() {
  return (
    <main class="centered">
      <h1 class="brand">qim</h1>
      <p role="alert" class="error">
        This address has no token. Open the address that <code>qim web</code> (or <code>npm start</code>) printed: it ends with{' '}
        <code>#token=…</code>.
      </p>
    </main>
  );
}
