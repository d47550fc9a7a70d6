/** The login screen: server and name (remembered), and why the last login ended. */
import { useState } from 'preact/hooks';
import type { Model, View } from '../model';
import { rememberedForm } from '../storage';

export function LoginScreen({ model, view }: { model: Model; view: View }) {
  const [server, setServer] = useState(() => rememberedForm()?.server ?? view.defaultServer ?? '127.0.0.1:8500');
  const [name, setName] = useState(() => rememberedForm()?.name ?? '');

  return (
    <main class="centered login">
      <h1 class="brand">qim</h1>
      <form
        class="login-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (server.trim() !== '' && name !== '') model.login(server, name);
        }}
      >
        <label for="login-server">Server</label>
        <input id="login-server" value={server} onInput={(e) => setServer(e.currentTarget.value)} autocomplete="off" spellcheck={false} required />
        <label for="login-name">Name</label>
        <input id="login-name" value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username" maxLength={32} required />
        <button type="submit" disabled={view.loginBusy}>
          Log in
        </button>
        {view.loginBusy && <p role="status">Logging in…</p>}
        {view.loginError !== null && (
          <p role="alert" class="error">
            {view.loginError}
          </p>
        )}
        {view.loginNotice !== null && <p role="status">{view.loginNotice}</p>}
      </form>
      <p class="hint">
        Each tab can be a different person. Names: up to 32 characters, no <code>,</code> or <code>;</code>.
      </p>
    </main>
  );
}
