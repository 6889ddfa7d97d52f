export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The MCP server's logger. It writes to stderr only: stdout belongs to the protocol on stdio. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A logger whose lines carry these bindings, e.g. the session they belong to. */
  child(bindings: Record<string, string>): Logger;
}

export interface StderrLoggerOptions {
  level?: LogLevel;
  /** Where lines go; process.stderr unless a test captures them. */
  write?: (line: string) => void;
}

/** One line per event: `ironclaw mcp: LEVEL message key=value`. */
export function stderrLogger(options: StderrLoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const make = (bindings: string): Logger => {
    const at =
      (level: LogLevel) =>
      (message: string): void => {
        if (LOG_LEVELS.indexOf(level) < threshold) return;
        write(`ironclaw mcp: ${level === 'info' ? '' : `${level}: `}${message}${bindings}\n`);
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) =>
        make(
          `${bindings}${Object.entries(more)
            .map(([key, value]) => ` ${key}=${value}`)
            .join('')}`,
        ),
    };
  };
  return make('');
}
