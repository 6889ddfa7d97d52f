import { z } from 'zod/mini';
import { reportError } from './cli-error.js';
import { connectDaemon } from './daemon-client.js';

/**
 * `ironclaw dashboard` prints the address of the daemon's dashboard (starting the daemon if none
 * runs): a page on 127.0.0.1 with the daemon's sandboxes, the audit stream and approvals.
 */
export async function dashboardCommand(flags: { json?: string | boolean | undefined }) {
  try {
    const client = await connectDaemon({ autoStart: true });
    try {
      const { url } = await client.request('dashboard', {}, z.object({ url: z.string() }));
      process.stdout.write(
        flags.json === true
          ? `${JSON.stringify({ url })}\n`
          : `${url}\nOpen it in a browser on this machine; the address holds the dashboard's key, so keep it to yourself. It is served until the daemon stops (\`ironclaw daemon --stop\`).\n`,
      );
      return 0;
    } finally {
      client.close();
    }
  } catch (error) {
    return reportError(error);
  }
}
