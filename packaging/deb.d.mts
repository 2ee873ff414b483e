/** Types of deb.mjs for the TypeScript tests. */
export declare function debPath(version?: string, arch?: string): string;
export declare function buildDeb(exe: string): string;
