// A browser client of switchboard over grpc-web, built on the generated
// TypeScript in gen/ts. It reads the current state, then follows the event
// stream (resuming after `resumeAfter` when given) and lists what arrives.
//
// Open index.html?server=http://127.0.0.1:3001&token=JWT[&resumeAfter=N]
// (after `make web-client`, or through clients/web/run-in-chromium.mjs).
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { EventService, StateService } from "../../gen/ts/switchboard/v1/services_pb.js";
import type { Event } from "../../gen/ts/switchboard/v1/event_pb.js";
import { report as show } from "./report.js";

/** One line the page reports about its progress. */
export type Report =
  | { kind: "state"; systemMode: string; sequence: string; epoch: string }
  | { kind: "event"; sequence: string; payload: string; mode?: string }
  | { kind: "error"; message: string };

const params = new URLSearchParams(location.search);
const server = params.get("server") ?? "http://127.0.0.1:3001";
const token = params.get("token") ?? "";
const resumeAfter = BigInt(params.get("resumeAfter") ?? "0");

const withToken: Interceptor = (next) => async (request) => {
  if (token) request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};
const transport = createGrpcWebTransport({ baseUrl: server, interceptors: [withToken] });
const state = createClient(StateService, transport);
const events = createClient(EventService, transport);

function report(line: Report): void {
  show(line);
}

function describe(event: Event): Report {
  const payload = event.payload;
  return {
    kind: "event",
    sequence: event.sequence.toString(),
    payload: payload.case ?? "none",
    mode: payload.case === "systemModeUpdate" ? payload.value.mode : undefined,
  };
}

async function main(): Promise<void> {
  const current = await state.getSystemState({});
  report({
    kind: "state",
    systemMode: current.systemMode,
    sequence: current.sequence.toString(),
    epoch: current.epoch,
  });
  for await (const message of events.subscribe({ resumeAfter, epoch: current.epoch })) {
    if (message.event) report(describe(message.event));
  }
}

main().catch((error: unknown) => report({ kind: "error", message: String(error) }));
