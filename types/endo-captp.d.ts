// @endo/captp 4.5.1 ships no declarations; this covers the part Tribe uses.
declare module '@endo/captp' {
  export type CapTPMessage = { type: string; epoch?: number; [key: string]: unknown };
  export interface CapTPStats {
    send: Record<string, number>;
    recv: Record<string, number>;
    gc: { DROPPED: number };
  }
  export interface CapTPOptions {
    onReject?: (err: unknown) => void;
    epoch?: number;
    gcImports?: boolean;
    exportHook?: (val: unknown, slot: string) => void;
    importHook?: (val: unknown, slot: string) => void;
    makeCapTPImportExportTables?: (opts: any) => unknown;
  }
  export interface CapTP {
    abort(reason?: unknown): void;
    dispatch(msg: CapTPMessage): boolean;
    getBootstrap(): Promise<any>;
    getStats(): CapTPStats;
    isOnlyLocal(specimen: unknown): boolean;
  }
  export function makeCapTP(
    ourId: string,
    rawSend: (msg: CapTPMessage) => void | PromiseLike<void>,
    bootstrap?: unknown,
    opts?: CapTPOptions,
  ): CapTP;
}
