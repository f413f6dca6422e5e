/** Hands each published value to every subscriber now listening, in the publisher's turn (live streams use it). */
export class Fanout<T> {
  private readonly listeners = new Set<(value: T) => void>();
  publish(value: T): void {
    for (const l of this.listeners) l(value);
  }
  /** How many subscribers listen now. */
  get size(): number {
    return this.listeners.size;
  }
  /** Answers the function that ends this subscription. */
  subscribe(l: (value: T) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
