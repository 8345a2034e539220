declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the one PostgreSQL 16 shared by this run (management dbs and worker cluster). */
    pgUrl: string;
  }
}

export {};
