// A minimal OpenTelemetry Meter for tests: it keeps the instruments it creates and the
// batch callbacks registered with it, and `collect()` runs the callbacks the way an SDK's
// metric reader would.
import assert from "node:assert/strict";
import type { Attributes, BatchObservableCallback, Meter, MetricOptions, Observable } from "@opentelemetry/api";

export interface Instrument {
  readonly name: string;
  readonly kind: "counter" | "updown" | "gauge";
  readonly options: MetricOptions | undefined;
}
export interface Point {
  readonly name: string;
  readonly value: number;
  readonly attributes: Attributes;
}

export class TestMeter {
  readonly instruments: Instrument[] = [];
  readonly callbacks: Array<{ callback: BatchObservableCallback; observables: Observable[] }> = [];

  #create(kind: Instrument["kind"], name: string, options?: MetricOptions): Observable {
    const instrument: Instrument = { name, kind, options };
    this.instruments.push(instrument);
    return { addCallback() {}, removeCallback() {}, instrument } as unknown as Observable;
  }
  createObservableCounter(name: string, options?: MetricOptions) {
    return this.#create("counter", name, options);
  }
  createObservableUpDownCounter(name: string, options?: MetricOptions) {
    return this.#create("updown", name, options);
  }
  createObservableGauge(name: string, options?: MetricOptions) {
    return this.#create("gauge", name, options);
  }
  addBatchObservableCallback(callback: BatchObservableCallback, observables: Observable[]) {
    this.callbacks.push({ callback, observables });
  }
  removeBatchObservableCallback(callback: BatchObservableCallback, observables: Observable[]) {
    const i = this.callbacks.findIndex((c) => c.callback === callback && c.observables.length === observables.length);
    if (i >= 0) this.callbacks.splice(i, 1);
  }

  async collect(): Promise<Point[]> {
    const points: Point[] = [];
    for (const { callback, observables } of this.callbacks) {
      await callback({
        observe(observable: Observable, value: number, attributes: Attributes = {}) {
          assert.ok(observables.includes(observable), "observed an instrument registered with the callback");
          const { instrument } = observable as unknown as { instrument: Instrument };
          points.push({ name: instrument.name, value, attributes });
        },
      });
    }
    return points;
  }
}

export const asMeter = (m: TestMeter) => m as unknown as Meter;

export function value(points: Point[], name: string, attributes: Attributes = {}): number | undefined {
  const matches = points.filter((p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  assert.ok(matches.length <= 1, `one point for ${name} ${JSON.stringify(attributes)}`);
  return matches[0]?.value;
}

