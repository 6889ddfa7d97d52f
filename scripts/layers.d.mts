export declare const LAYERS: Record<string, readonly string[]>;
export declare const PURE_LAYERS: readonly string[];
export declare const KERNEL_MODULES: readonly string[];
export declare const SPAWNING_LAYERS: readonly string[];
