// Types for the hcx edge verifier's JavaScript API (hcx.wasm, built from
// wasm/js with GOOS=js GOARCH=wasm). Run it with Go's wasm_exec.js:
//
//   const go = new Go();
//   globalThis.__hcxReady = (api) => { ... };   // optional: called once the API is set
//   const { instance } = await WebAssembly.instantiateStreaming(fetch("hcx.wasm"), go.importObject);
//   go.run(instance);                            // sets globalThis.hcx synchronously
//   const info = await hcx.load(new Uint8Array(await (await fetch("/v1/edge/filter")).arrayBuffer()), publicKeyHex);
//   const r = hcx.check("11010519491231002X");
//   const c = hcx.verifyCode("HCX1:...");        // a health code, verified offline
//
// A bad argument or filter never stops the instance: load rejects its
// promise with an Error; check, checkMany and info return an Error value.
//
// No rollback: load refuses a filter older than the newest this instance
// has loaded, or than options.lastSeen (pass the {version, built} of the
// newest filter you saw before, e.g. kept in localStorage), and one past
// its signed deadline; the Error's code is then "rollback" or "expired".

/** One answer. */
export interface CheckResult {
  /** The queried ID, masked: first and last four characters. */
  id: string;
  /** green (certain for the covered regions), yellow or red (probable), invalid, or stale (the filter is too old to answer). */
  status: "green" | "yellow" | "red" | "invalid" | "stale";
  /** true on a red or yellow hit: a false positive at the filter's rate is possible, check online. */
  probable: boolean;
  /** Why the ID is invalid (status "invalid" only). */
  error?: "length" | "non-digit" | "date" | "check digit" | "legacy 15-digit";
  /** The regions whose filters hit, with their colour (absent for invalid). */
  sources?: { region: string; status: "red" | "yellow" }[];
  /** Regions the answer cannot vouch for: not covered, or their list is older than the maximum age (absent for invalid). */
  stale?: string[];
}

/** A health code's verdict (docs/health-codes.md): the same object as POST /v1/codes/verify, from the filter. */
export type CodeAnswer =
  | {
      valid: true;
      /** A valid green code, and no region's filter lists the holder now. */
      pass: boolean;
      /** The holder's ID, masked. */
      id: string;
      /** The issuing region (from the trust list). */
      region: string;
      /** The colour the code was issued with. */
      codeStatus: "green" | "yellow" | "red";
      /** The holder's merged status now, from the filters; stale once the filter is too old. */
      status: "green" | "yellow" | "red" | "stale";
      /** true when status comes from a filter hit: check online. */
      probable: boolean;
      /** Always null offline: a filter does not carry since dates. */
      since: null;
      sources: { region: string; status: "red" | "yellow" }[];
      /** RFC 3339, in the publisher's zone. */
      issued: string;
      expires: string;
      /** The newest list date in the filter (YYYY-MM-DD), null when it has none. */
      asOf: string | null;
      stale: string[];
    }
  | {
      valid: false;
      pass: false;
      error: "format" | "unknown_issuer" | "revoked_issuer" | "signature" | "not_yet_valid" | "expired";
    };

/** Per-region freshness. */
export interface RegionInfo {
  region: string;
  /** YYYY-MM-DD, null when the publisher has no list for the region. */
  listDate: string | null;
  /** false: the filter holds nothing for this region. */
  covered: boolean;
  /** covered, and the list is younger than the maximum age now. */
  current: boolean;
  /** When the list was ingested (RFC 3339), covered regions only. */
  ingested?: string;
  /** When the list stops being current (RFC 3339). */
  currentUntil?: string;
  red?: number;
  yellow?: number;
  /** The false-positive rate each of the region's two filters was sized for. */
  fpr?: number;
}

/** The loaded filter. */
export interface FilterInfo {
  /** Publication time (the snapshot's build time): RFC 3339 in UTC with nine fraction digits, e.g. 2026-11-27T00:00:00.123456789Z. */
  built: string;
  /** After this the filter answers only "stale". */
  staleAt: string;
  stale: boolean;
  maxAgeHours: number;
  /** False-positive rate promised for the whole filter (a person listed nowhere answered red or yellow). */
  fpr: number;
  /** The same, estimated from the filters as filled. */
  estimatedFpr: number;
  /** The snapshot version the filter belongs to (rises with every publication). */
  version: number;
  /** Size of the bloom filters in bytes. */
  bytes: number;
  /** Entries in all the filters. */
  records: number;
  regions: RegionInfo[];
}

/** The newest filter a verifier has seen: FilterInfo's version and built. */
export interface Seen {
  version: number;
  /** As FilterInfo.built gives it (UTC, nine fraction digits). */
  built: string;
}

export interface LoadOptions {
  /** Refuse a filter older than this (lower version or earlier build) as a rollback. */
  lastSeen?: Seen;
}

/** Why load refused a filter whose signature is good. */
export interface RefusedError extends Error {
  code: "rollback" | "expired";
}

export interface HcxVerifier {
  /**
   * Verifies the signed filter against the publisher's Ed25519 public key (64 hex digits, as `hcx init` prints it) and makes it current.
   * Rejects with a RefusedError for a filter older than one seen before (this instance, or options.lastSeen) or past its deadline.
   */
  load(filter: Uint8Array | ArrayBuffer, publicKeyHex: string, options?: LoadOptions): Promise<FilterInfo>;
  check(id: string): CheckResult | Error;
  /** One result per ID, in order; an item that is not a string gives an Error in its place. */
  checkMany(ids: string[]): (CheckResult | Error)[] | Error;
  /** Verifies a health code (HCX1:...) against the loaded filter's trust list, then its holder against the filters. */
  verifyCode(text: string): CodeAnswer | Error;
  info(): FilterInfo | Error;
  /** The edge filter format version this build reads. */
  readonly formatVersion: number;
}

declare global {
  var hcx: HcxVerifier;
  var __hcxReady: ((api: HcxVerifier) => void) | undefined;
}
