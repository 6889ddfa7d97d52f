import { createServer, type Server } from 'node:net';

/** A host listener that counts who connects to it: a box reaching it is a network escape. */
export interface CountingServer {
  readonly connections: number;
  close(): Promise<void>;
}

/** Listens on every host IPv4 address; the box is given the port. */
export async function listenTcp(): Promise<CountingServer & { port: number }> {
  const { server, counter } = countingServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '0.0.0.0', port: 0 }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('TCP server has no port');
  return { port: address.port, ...wrap(server, counter) };
}

/** Listens on a Linux abstract unix socket: those are scoped by network namespace. */
export async function listenAbstract(name: string): Promise<CountingServer> {
  const { server, counter } = countingServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: `\0${name}` }, resolve);
  });
  return wrap(server, counter);
}

function countingServer(): { server: Server; counter: { count: number } } {
  const counter = { count: 0 };
  const server = createServer((socket) => {
    counter.count++;
    socket.destroy();
  });
  return { server, counter };
}

function wrap(server: Server, counter: { count: number }): CountingServer {
  return {
    get connections() {
      return counter.count;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
