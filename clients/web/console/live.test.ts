// The console's stream keeper (`Live`) against a scripted EventService: it
// starts from a snapshot, resumes after the last event it folded (with its
// epoch) when the stream breaks or events were dropped, starts over from a
// Resync, and stops for good when the token is refused.
// Run by `node clients/web/console/test.mjs` (the API tests run it).
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CallChange, CallState } from "../../../gen/ts/switchboard/v1/call_pb.js";
import { type Event, EventSchema } from "../../../gen/ts/switchboard/v1/event_pb.js";
import type { SubscribeRequest } from "../../../gen/ts/switchboard/v1/services_pb.js";
import { ResyncReason } from "../../../gen/ts/switchboard/v1/system_pb.js";
import { Live } from "./live.js";
import type { Api } from "./session.js";

/** What one subscription does: events to send, then an error or an open end. */
interface Script {
  events: Event[];
  fail?: Error;
}

/** A fake EventService: each subscribe plays the next script and is recorded. */
function fakeApi(scripts: Script[]): { api: Api; requests: Partial<SubscribeRequest>[] } {
  const requests: Partial<SubscribeRequest>[] = [];
  const events = {
    subscribe(request: Partial<SubscribeRequest>, options: { signal: AbortSignal }) {
      requests.push(request);
      const script = scripts.shift() ?? { events: [] };
      return (async function* () {
        for (const event of script.events) yield { event };
        if (script.fail) throw script.fail;
        // An open stream: nothing more until the page closes it.
        await new Promise((resolve) => options.signal.addEventListener("abort", resolve));
      })();
    },
  };
  return { api: { events } as unknown as Api, requests };
}

function event(sequence: number, epoch: string, payload: Event["payload"]): Event {
  return create(EventSchema, { sequence: BigInt(sequence), epoch, payload });
}

const call = (callId: string, state: CallState) => ({ callId, state, agentExtension: "1001" });

function snapshot(sequence: number, epoch: string, reason: ResyncReason, calls: ReturnType<typeof call>[]): Event {
  return event(sequence, epoch, { case: "resync", value: { reason, snapshot: { calls, systemMode: "day" } } } as never);
}

function updated(sequence: number, epoch: string, callId: string, state: CallState): Event {
  return event(sequence, epoch, { case: "callUpdated", value: { call: call(callId, state), change: CallChange.ANSWERED } } as never);
}

/** Waits until `done` holds (the stream runs on its own). */
async function until(done: () => boolean, within = 5000): Promise<void> {
  const end = Date.now() + within;
  while (!done()) {
    if (Date.now() > end) throw new Error("not within time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test("a broken stream is resumed after the last event folded, in its epoch", async () => {
  const { api, requests } = fakeApi([
    {
      events: [snapshot(10, "e1", ResyncReason.INITIAL, [call("c1", CallState.RINGING)]), updated(11, "e1", "c1", CallState.CONNECTED)],
      fail: new ConnectError("reset", Code.Unavailable),
    },
    { events: [updated(12, "e1", "c1", CallState.ENDED)] },
  ]);
  const live = new Live(api);
  live.start();
  await until(() => requests.length === 2 && live.state.sequence === 12n);
  assert.equal(requests[0].snapshotFirst, true);
  assert.equal(requests[0].resumeAfter, 0n);
  assert.equal(requests[1].snapshotFirst, false);
  assert.equal(requests[1].resumeAfter, 11n, "resumes after the last event folded");
  assert.equal(requests[1].epoch, "e1");
  assert.equal(live.state.calls.size, 0, "the call ended");
  assert.deepEqual(live.state.ended.map((c) => c.callId), ["c1"]);
  assert.equal(live.state.connection.state, "live");
  live.stop();
});

test("dropped events are fetched again by resuming after the last one folded", async () => {
  const dropped = event(20, "e1", { case: "eventsDropped", value: { count: 5n, resumedAt: 21n } } as never);
  const { api, requests } = fakeApi([
    { events: [snapshot(14, "e1", ResyncReason.INITIAL, []), dropped] },
    { events: [updated(15, "e1", "c2", CallState.QUEUED)] },
  ]);
  const live = new Live(api);
  live.start();
  await until(() => requests.length === 2 && live.state.sequence === 15n);
  assert.equal(requests[1].resumeAfter, 14n);
  assert.ok(live.state.calls.has("c2"));
  live.stop();
});

test("a Resync replaces the picture, and a PBX rebuild is told", async () => {
  const { api } = fakeApi([
    {
      events: [
        snapshot(3, "e1", ResyncReason.INITIAL, [call("ghost", CallState.CONNECTED)]),
        snapshot(4, "e2", ResyncReason.SOURCE_REBUILT, [call("real", CallState.CONNECTED)]),
      ],
    },
  ]);
  const live = new Live(api);
  live.start();
  await until(() => live.state.sequence === 4n);
  assert.deepEqual([...live.state.calls.keys()], ["real"], "no ghost call");
  assert.equal(live.state.epoch, "e2");
  assert.equal(live.state.resync?.reason, ResyncReason.SOURCE_REBUILT);
  assert.equal(live.state.systemMode, "day");
  live.stop();
});

test("a refused token stops the stream with the server's reason", async () => {
  const { api, requests } = fakeApi([{ events: [], fail: new ConnectError("token expired", Code.Unauthenticated) }]);
  const live = new Live(api);
  live.start();
  await until(() => live.state.connection.state === "refused");
  assert.deepEqual(live.state.connection, { state: "refused", reason: "Not signed in: token expired" });
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal(requests.length, 1, "no retry with a refused token");
});
