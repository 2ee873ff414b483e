/** Types of executable.mjs for the TypeScript tests. */
export declare const ROOT: string;
export declare const PKG_DIR: string;
export declare const ARCH: string;
export declare function packageJson(): { name: string; version: string };
export declare function executablePath(version?: string, arch?: string): string;
export declare function inputFiles(): string[];
export declare function inputHash(): string;
export declare function bundle(version?: string): Promise<{ file: string; packages: Map<string, string> }>;
export declare function buildExecutable(): Promise<string>;
export declare function writeChecksums(): string[];
export declare function cachedExecutable(): Promise<string>;
