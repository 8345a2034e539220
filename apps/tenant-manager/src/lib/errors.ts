/**
 * An expected failure with the HTTP status it maps to. The library throws these for caller mistakes
 * (unknown project, bad state); everything else is a bug or an outage and becomes a hidden 500.
 */
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** An error's message alone (what logs and stored errors carry; error objects can hold connection details). */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const badRequest = (message: string, code = 'bad_request') => new AppError(400, message, code);
export const notFound = (what = 'project') => new AppError(404, `${what} not found`, 'not_found');
export const conflict = (message: string, code = 'conflict') => new AppError(409, message, code);
