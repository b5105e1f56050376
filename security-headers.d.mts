/** The Content Security Policy's directives (meta tag and header). */
export declare const CSP_DIRECTIVES: readonly string[];
/** The policy as the built page's meta tag carries it. */
export declare const CONTENT_SECURITY_POLICY: string;
/** The policy as an HTTP header (adds `frame-ancestors 'none'`). */
export declare const CONTENT_SECURITY_POLICY_HEADER: string;
/** Every header the app is served with: CSP, cross-origin isolation (COOP + COEP), nosniff, no referrer. */
export declare const SECURITY_HEADERS: Readonly<Record<string, string>>;
/** The dev server's fixed nonce for its inline script and styles. */
export declare const DEV_CSP_NONCE: string;
/** The headers for the dev server: SECURITY_HEADERS with the dev nonce allowed for scripts and styles. */
export declare function devSecurityHeaders(): Record<string, string>;
