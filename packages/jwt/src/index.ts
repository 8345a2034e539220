export * from './jwt.js';
