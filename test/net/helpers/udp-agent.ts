/**
 * A small UDP program for the network tests, run inside a namespace by `startUdpAgent`
 * (test/net/helpers/udp.ts): it holds plain `node:dgram` sockets and takes one JSON command per
 * line on standard input, writing one JSON event per line on standard output.
 *
 * In:  {"op":"bind","sock":"a","host":"0.0.0.0","port":0,"echo":false}
 *      {"op":"send","sock":"a","to":"10.99.0.1:7000","data":"text","count":1,"intervalMs":0}
 *      {"op":"close","sock":"a"}
 * Out: {"event":"ready"}, {"event":"bound","sock","address","port"},
 *      {"event":"message","sock","from","data"}, {"event":"sent","sock","to","count"},
 *      {"event":"error","sock"?,"message"}
 *
 * An echo socket answers every datagram with `seen ADDRESS:PORT`: the sender's address as this
 * socket saw it (what a STUN server tells), so a host learns its mapped endpoint.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';

const sockets = new Map<string, Socket>();

function emit(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

async function handle(cmd: Record<string, unknown>): Promise<void> {
  const name = String(cmd.sock ?? '');
  switch (cmd.op) {
    case 'bind': {
      if (sockets.has(name)) throw new Error(`socket ${name} exists`);
      const s = createSocket('udp4');
      const echo = cmd.echo === true;
      s.on('message', (msg, rinfo) => {
        const from = `${rinfo.address}:${rinfo.port}`;
        emit({ event: 'message', sock: name, from, data: msg.toString('utf8') });
        if (echo) s.send(`seen ${from}`, rinfo.port, rinfo.address);
      });
      s.on('error', (err) => emit({ event: 'error', sock: name, message: err.message }));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(Number(cmd.port ?? 0), String(cmd.host ?? '0.0.0.0'), () => {
          s.off('error', reject);
          resolve();
        });
      });
      sockets.set(name, s);
      const a = s.address();
      emit({ event: 'bound', sock: name, address: a.address, port: a.port });
      return;
    }
    case 'send': {
      const s = sockets.get(name);
      if (s === undefined) throw new Error(`no socket ${name}`);
      const { host, port } = hostPort(String(cmd.to));
      const count = Number(cmd.count ?? 1);
      const interval = Number(cmd.intervalMs ?? 0);
      const data = String(cmd.data ?? '');
      for (let i = 0; i < count; i++) {
        if (i > 0 && interval > 0) await new Promise((r) => setTimeout(r, interval));
        await new Promise<void>((resolve, reject) => s.send(data, port, host, (err) => (err ? reject(err) : resolve())));
      }
      emit({ event: 'sent', sock: name, to: cmd.to, count });
      return;
    }
    case 'close': {
      sockets.get(name)?.close();
      sockets.delete(name);
      emit({ event: 'closed', sock: name });
      return;
    }
    default:
      throw new Error(`unknown op ${String(cmd.op)}`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === '') return;
  let cmd: Record<string, unknown>;
  try {
    cmd = JSON.parse(line) as Record<string, unknown>;
  } catch {
    emit({ event: 'error', message: `not JSON: ${line}` });
    return;
  }
  handle(cmd).catch((err: unknown) =>
    emit({ event: 'error', ...(cmd.sock === undefined ? {} : { sock: cmd.sock }), message: err instanceof Error ? err.message : String(err) }),
  );
});
rl.on('close', () => {
  for (const s of sockets.values()) s.close();
  process.exit(0);
});
emit({ event: 'ready' });
