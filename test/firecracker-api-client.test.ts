// The API client against a real HTTP/1.1 server on a real Unix socket that answers as
// Firecracker's API server does (204 with no body, or 400 with {"fault_message": ...}).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  putAction,
  putLogger,
  putMachineConfig,
  putVsock,
} from '../src/drivers/firecracker/api.js';
import { FirecrackerApiClient } from '../src/drivers/firecracker/api-client.js';
import { expectCode } from './support/expect-code.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>;

let dir: string;
let socket: string;
let server: Server | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-fc-api-'));
  socket = join(dir, 'api.sock');
});
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server?.closeAllConnections();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function serve(handler: Handler): Promise<void> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => void handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((resolve) => server!.listen(socket, resolve));
}

function answer(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, text ? { 'Content-Type': 'application/json' } : {});
  res.end(text);
}

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe('FirecrackerApiClient', () => {
  test('sends each request as JSON, one at a time and in order, waiting for each 204', async () => {
    const seen: string[] = [];
    let inFlight = 0;
    let most = 0;
    await serve(async (req, body, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      expect(req.headers['content-type']).toBe('application/json');
      seen.push(`${req.method} ${req.url} ${body}`);
      await delay(20); // slow answers: a client that did not wait would overlap them
      inFlight--;
      answer(res, 204);
    });
    const client = new FirecrackerApiClient(socket);
    const calls = [
      putLogger({ logPath: '/log', level: 'Warning' }),
      putMachineConfig({ vcpuCount: 1, memSizeMib: 256 }),
      putVsock({ guestCid: 3, udsPath: '/v.sock' }),
      putAction('InstanceStart'),
    ];
    // Fired together: the client queues them.
    await Promise.all(calls.map((call) => client.send(call, { signal: signal() })));
    expect(most).toBe(1);
    expect(seen).toEqual([
      'PUT /logger {"log_path":"/log","level":"Warning"}',
      'PUT /machine-config {"vcpu_count":1,"mem_size_mib":256}',
      'PUT /vsock {"guest_cid":3,"uds_path":"/v.sock"}',
      'PUT /actions {"action_type":"InstanceStart"}',
    ]);
  });

  test("an error answer fails with Firecracker's fault_message quoted, and later requests still go", async () => {
    await serve((req, _body, res) => {
      if (req.url === '/boot-source')
        answer(res, 400, { fault_message: 'Invalid kernel path: No such file (os error 2)' });
      else answer(res, 204);
    });
    const client = new FirecrackerApiClient(socket);
    const failed = client.send(
      { method: 'PUT', path: '/boot-source', body: { kernel_image_path: '/nope' } },
      { signal: signal() },
    );
    const next = client.send(putAction('InstanceStart'), { signal: signal() });
    const error = await expectCode(() => failed, 'INTERNAL');
    expect(error.message).toBe(
      'Firecracker refused PUT /boot-source (HTTP 400): "Invalid kernel path: No such file (os error 2)"',
    );
    await expect(next).resolves.toBeUndefined();
  });

  test('an answer without fault_message is quoted as it came', async () => {
    await serve((_req, _body, res) => answer(res, 500, 'upstream exploded'));
    const error = await expectCode(
      () => new FirecrackerApiClient(socket).send(putAction('FlushMetrics'), { signal: signal() }),
      'INTERNAL',
    );
    expect(error.message).toContain('(HTTP 500): (no fault_message) "upstream exploded"');
  });

  test('a 200 is not the 204 a configuration request must get', async () => {
    await serve((_req, _body, res) => answer(res, 200, { state: 'Running' }));
    await expectCode(
      () => new FirecrackerApiClient(socket).send(putAction('InstanceStart'), { signal: signal() }),
      'INTERNAL',
    );
  });

  test('describe reads the instance info, and refuses anything else', async () => {
    let body: unknown = {
      app_name: 'Firecracker',
      id: 'vm-1',
      state: 'Not started',
      vmm_version: '1.16.1',
    };
    await serve((_req, _body, res) => answer(res, 200, body));
    const client = new FirecrackerApiClient(socket);
    await expect(client.describe({ signal: signal() })).resolves.toMatchObject({
      state: 'Not started',
      vmm_version: '1.16.1',
    });
    body = { state: 'Exploded' };
    await expectCode(() => client.describe({ signal: signal() }), 'PROTOCOL_ERROR');
  });

  test('waitUntilServing retries until the socket appears', async () => {
    const client = new FirecrackerApiClient(socket);
    const waiting = client.waitUntilServing({ signal: signal() });
    await delay(150);
    await serve((_req, _body, res) =>
      answer(res, 200, {
        app_name: 'Firecracker',
        id: 'x',
        state: 'Not started',
        vmm_version: 'v',
      }),
    );
    await expect(waiting).resolves.toMatchObject({ id: 'x' });
  });

  test('waitUntilServing gives up with TIMEOUT when nothing ever listens', async () => {
    const error = await expectCode(
      () => new FirecrackerApiClient(socket).waitUntilServing({ signal: AbortSignal.timeout(200) }),
      'TIMEOUT',
    );
    expect(error.message).toContain(socket);
  });

  test('a request stuck in Firecracker is ended by its signal', async () => {
    await serve(() => undefined); // never answers
    const controller = new AbortController();
    const sent = new FirecrackerApiClient(socket).send(putAction('InstanceStart'), {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expectCode(() => sent, 'ABORTED');
  });

  test('an oversized answer is refused', async () => {
    await serve((_req, _body, res) => answer(res, 400, 'x'.repeat(200 * 1024)));
    await expectCode(
      () => new FirecrackerApiClient(socket).send(putAction('InstanceStart'), { signal: signal() }),
      'PROTOCOL_ERROR',
    );
  });
});
