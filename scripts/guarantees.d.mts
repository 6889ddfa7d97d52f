// Types of guarantees.mjs, for the test that checks the README against it.
export interface Cell {
  holds: 'yes' | 'no' | 'partly';
  what: string;
  proof: string[];
}
export declare const LAYERS: readonly { id: string; title: string }[];
export declare const GUARANTEES: Readonly<Record<string, Readonly<Record<string, Cell>>>>;
export declare const START: string;
export declare const END: string;
export declare function isFile(item: string): boolean;
export declare function guaranteeTable(
  guarantees?: Readonly<Record<string, Readonly<Record<string, Cell>>>>,
): string;
export declare function withTable(readme: string, table: string): string;
