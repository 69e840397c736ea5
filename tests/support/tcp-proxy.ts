import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (PostgreSQL) that a test can break and restore:
 * - cut(): drops every open connection and stops listening, so new connections are refused
 *   (ECONNREFUSED), as when the database host goes away;
 * - stall(): keeps every connection open but forwards nothing either way, and accepts new
 *   connections without ever answering, as when the network silently drops packets;
 * - resume(): drops whatever the stall held and forwards again, listening on the same port.
 */
export interface TcpProxy {
  readonly port: number;
  /** Client connections currently open through the proxy. */
  connections(): number;
  cut(): Promise<void>;
  stall(): void;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Socket[]>();
  let server: Server | undefined;
  let port = 0;
  let stalled = false;

  function track(sockets: Socket[]) {
    pairs.add(sockets);
    const drop = () => {
      for (const socket of sockets) socket.destroy();
      pairs.delete(sockets);
    };
    for (const socket of sockets) socket.on('error', drop).on('close', drop);
  }

  function accept(client: Socket) {
    if (stalled) {
      client.pause();
      track([client]);
      return;
    }
    const backend = connect(target.port, target.host);
    track([client, backend]);
    client.pipe(backend).pipe(client);
  }

  async function listen() {
    const listening = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => resolve());
    });
    server = listening;
    port = (listening.address() as { port: number }).port;
  }

  function dropAll() {
    for (const sockets of pairs) for (const socket of sockets) socket.destroy();
    pairs.clear();
  }

  async function stopListening() {
    const closing = server;
    server = undefined;
    dropAll();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  }

  await listen();
  return {
    get port() {
      return port;
    },
    connections: () => pairs.size,
    cut: stopListening,
    stall() {
      stalled = true;
      for (const sockets of pairs) {
        for (const socket of sockets) {
          socket.unpipe();
          socket.pause();
        }
      }
    },
    async resume() {
      if (stalled) {
        stalled = false;
        dropAll();
      }
      if (!server) await listen();
    },
    close: stopListening,
  };
}
