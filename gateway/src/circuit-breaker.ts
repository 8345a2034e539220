import type { Clock } from './clock.js';

interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open before one trial call is let through. */
  readonly openMs: number;
  readonly clock: Clock;
}

/** Consecutive-failure breaker: open = fail fast without calling; after `openMs` one trial call. */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(private readonly options: CircuitBreakerOptions) {}

  /** False while open: the caller should skip the dependency. */
  allow(): boolean {
    if (this.failures < this.options.failureThreshold) return true;
    if (this.options.clock.now() < this.openUntil || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  get isOpen(): boolean {
    return this.failures >= this.options.failureThreshold;
  }

  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
  }

  failure(): void {
    this.failures++;
    this.trialInFlight = false;
    if (this.failures >= this.options.failureThreshold)
      this.openUntil = this.options.clock.now() + this.options.openMs;
  }
}
