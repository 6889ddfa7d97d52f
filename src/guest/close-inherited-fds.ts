import { closeSync, readdirSync, readFileSync } from 'node:fs';
import { isInheritable } from '../core/fd-info.js';

/**
 * The guest agent's first act: close whatever descriptors reached it besides stdio and its
 * channel, so no command it runs inherits them. Synchronous: nothing else runs yet.
 */
export function closeInheritedFds(channelFd: number): void {
  for (const name of readdirSync('/proc/self/fdinfo')) {
    const fd = Number(name);
    if (fd <= 2 || fd === channelFd) continue;
    const info = readInfo(name);
    if (isInheritable(info)) closeSync(fd);
  }
}

/** '' for a descriptor that closed meanwhile (the directory listing's own, for one). */
function readInfo(name: string): string {
  try {
    return readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
  } catch {
    return '';
  }
}
