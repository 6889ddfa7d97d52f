/**
 * The yeses given "for this sandbox" or "for this session", held only in this process: they end
 * with it, unlike an "always" answer, which the approvals file keeps.
 */
export class ScopeGrants {
  readonly #granted = new Set<string>();

  grant(scope: 'sandbox' | 'session', owner: string, key: string): void {
    this.#granted.add(`${scope} ${owner} ${key}`);
  }

  /** The scope of the earlier yes covering `key`, the sandbox's before the session's. */
  covering(
    key: string,
    sandbox: string | undefined,
    session: string,
  ): 'sandbox' | 'session' | undefined {
    if (sandbox !== undefined && this.#granted.has(`sandbox ${sandbox} ${key}`)) return 'sandbox';
    if (this.#granted.has(`session ${session} ${key}`)) return 'session';
    return undefined;
  }
}
