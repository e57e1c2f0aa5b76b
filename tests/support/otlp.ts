// Decoding OTLP messages back into plain spans and log records, to check what the exporters
// wrote. Protobuf goes through protobufjs with the OTLP message definitions below (the
// messages of opentelemetry-proto's collector/{trace,logs}/v1 services, with the field
// numbers of the OTLP specification; enums as int32, which is the same on the wire), so
// the check is independent of the encoder in @opentelemetry/otlp-transformer. JSON is the
// OTLP/JSON mapping: camelCase names, hex ids, 64-bit integers as strings.
import protobuf from "protobufjs";

const OTLP_PROTO = `
syntax = "proto3";
package otlp;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource {
  repeated KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
  message Event {
    fixed64 time_unix_nano = 1;
    string name = 2;
    repeated KeyValue attributes = 3;
    uint32 dropped_attributes_count = 4;
  }
  message Link {
    bytes trace_id = 1;
    bytes span_id = 2;
    string trace_state = 3;
    repeated KeyValue attributes = 4;
    uint32 dropped_attributes_count = 5;
    fixed32 flags = 6;
  }
}
message Status { string message = 2; int32 code = 3; }

message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
`;

const root = protobuf.parse(OTLP_PROTO, { keepCase: false }).root;
const TraceRequest = root.lookupType("otlp.ExportTraceServiceRequest");
const LogsRequest = root.lookupType("otlp.ExportLogsServiceRequest");
// Ids as arrays of bytes, 64-bit integers as strings, the field a oneof holds named.
const TO_OBJECT = { longs: String, bytes: Array, oneofs: true } as const;

/** A span as decoded: ids in hex, attributes flattened, with its resource and scope. */
export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP's SpanKind: 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER. */
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Record<string, unknown>;
  readonly events: ReadonlyArray<{ name: string; attributes: Record<string, unknown> }>;
  /** 0 UNSET, 1 OK, 2 ERROR. */
  readonly status: { readonly code: number; readonly message: string };
  readonly resource: Record<string, unknown>;
  readonly scope: { readonly name: string; readonly version: string };
}

/** A log record as decoded. */
export interface DecodedLogRecord {
  readonly timeUnixNano: string;
  readonly severityNumber: number;
  readonly severityText: string;
  readonly body: unknown;
  readonly attributes: Record<string, unknown>;
  readonly traceId: string;
  readonly spanId: string;
  readonly resource: Record<string, unknown>;
  readonly scope: { readonly name: string; readonly version: string };
}

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

const hex = (bytes: ArrayLike<number> | string | undefined): string => {
  if (bytes === undefined) return "";
  if (typeof bytes === "string") return bytes.toLowerCase(); // OTLP/JSON: already hex
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, "0");
  return s;
};

/** An AnyValue (protobuf's toObject with its oneof named in `value`, or OTLP/JSON) as a plain value. */
function anyValue(v: Obj | undefined | null): unknown {
  if (v === undefined || v === null) return undefined;
  const field = typeof v.value === "string" ? v.value : Object.keys(v).find((k) => k.endsWith("Value"));
  switch (field) {
    case "stringValue":
      return v.stringValue;
    case "boolValue":
      return v.boolValue;
    case "intValue":
      return Number(v.intValue);
    case "doubleValue":
      return v.doubleValue;
    case "arrayValue":
      return (v.arrayValue.values ?? []).map(anyValue);
    case "kvlistValue":
      return attributes(v.kvlistValue.values);
    case "bytesValue":
      return v.bytesValue;
    default:
      return undefined;
  }
}

function attributes(list: Obj[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

function spansOf(request: Obj): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = { name: ss.scope?.name ?? "", version: ss.scope?.version ?? "" };
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name,
          kind: s.kind ?? 0,
          startTimeUnixNano: String(s.startTimeUnixNano),
          endTimeUnixNano: String(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          events: (s.events ?? []).map((e: Obj) => ({ name: e.name, attributes: attributes(e.attributes) })),
          status: { code: s.status?.code ?? 0, message: s.status?.message ?? "" },
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

function logsOf(request: Obj): DecodedLogRecord[] {
  const out: DecodedLogRecord[] = [];
  for (const rl of request.resourceLogs ?? []) {
    const resource = attributes(rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      const scope = { name: sl.scope?.name ?? "", version: sl.scope?.version ?? "" };
      for (const r of sl.logRecords ?? []) {
        out.push({
          timeUnixNano: String(r.timeUnixNano),
          severityNumber: r.severityNumber ?? 0,
          severityText: r.severityText ?? "",
          body: anyValue(r.body),
          attributes: attributes(r.attributes),
          traceId: hex(r.traceId),
          spanId: hex(r.spanId),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

/** Decodes one binary ExportTraceServiceRequest. Throws if it is not one. */
export function decodeTraces(bytes: Uint8Array): DecodedSpan[] {
  return spansOf(TraceRequest.toObject(TraceRequest.decode(bytes), TO_OBJECT));
}

/** Decodes one binary ExportLogsServiceRequest. Throws if it is not one. */
export function decodeLogs(bytes: Uint8Array): DecodedLogRecord[] {
  return logsOf(LogsRequest.toObject(LogsRequest.decode(bytes), TO_OBJECT));
}

/** Decodes one ExportTraceServiceRequest in OTLP/JSON. */
export function decodeTracesJson(bytes: Uint8Array): DecodedSpan[] {
  return spansOf(JSON.parse(new TextDecoder().decode(bytes)));
}

/** Decodes one ExportLogsServiceRequest in OTLP/JSON. */
export function decodeLogsJson(bytes: Uint8Array): DecodedLogRecord[] {
  return logsOf(JSON.parse(new TextDecoder().decode(bytes)));
}
