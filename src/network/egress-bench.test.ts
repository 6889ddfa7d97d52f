// The benchmark functions run once, small, so they keep working; bench/ runs them in earnest.
import { describe, expect, it } from 'vitest';
import {
  openDirect,
  openThroughProxy,
  startBenchProxy,
  startBenchServers,
  timeDownload,
  timeRequest,
} from './egress-bench.js';

describe('egress benchmark functions', () => {
  it('time a request and a download, directly and through the proxy', async () => {
    await using servers = await startBenchServers();
    await using proxy = await startBenchProxy([servers.echoPort, servers.sourcePort]);
    const proxied = openThroughProxy(proxy.socketPath);
    for (const open of [openDirect, proxied]) {
      expect(await timeRequest(open, servers.echoPort)).toBeGreaterThan(0);
      expect(await timeDownload(open, servers.sourcePort, 4 * 1024 * 1024)).toBeGreaterThan(0);
    }
  });

  it('a port the proxy does not allow is refused, not timed', async () => {
    await using servers = await startBenchServers();
    await using proxy = await startBenchProxy([servers.echoPort]);
    await expect(
      timeDownload(openThroughProxy(proxy.socketPath), servers.sourcePort, 1024),
    ).rejects.toThrow(/the proxy refused: HTTP\/1\.1 403/);
  });
});
