/** One shell word, single-quoted: nothing in it is expanded. */
export function quote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
