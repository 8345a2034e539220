export * from './fixture-database.js';
export * from './sql.js';
