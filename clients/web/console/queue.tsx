// Queue calls (seed 000, supervisors): every call waiting in a queue, with
// its position and estimated wait, and the supervisor's actions on it:
// assign to an agent with room, change priority, transfer, hang up.
import { useEffect, useState } from "preact/hooks";
import { CallState, type Call, type IncomingQueueCall } from "../../../gen/ts/switchboard/v1/call_pb.js";
import type { Live } from "./live.js";
import type { Api, Identity } from "./session.js";
import { Panel, Result, TransferForm, duration, millis, useClock, useCommand, useLive } from "./ui.js";
import { caller } from "./wallboard.js";

function WaitingCall({ call, position, offer, live, api, mayAct }: { call: Call; position: number; offer?: IncomingQueueCall; live: Live; api: Api; mayAct: boolean }) {
  const state = useLive(live);
  const [outcome, run, busy] = useCommand();
  const [agent, setAgent] = useState("");
  const [priority, setPriority] = useState("normal");
  const sessionId = call.callId;
  const withRoom = [...state.agents.values()].filter(
    (a) => a.status !== "offline" && (!a.capacity || a.capacity.current < a.capacity.max),
  );
  const waited = (live.serverNow() - millis(call.startedAt)) / 1000;
  const label = caller(call);
  return (
    <tr data-queued={sessionId}>
      <td>{position}</td>
      <th scope="row">{label}</th>
      <td>{call.queue || offer?.queueNumber}</td>
      <td class="timer">{duration(waited)}</td>
      <td>{offer ? duration(offer.estimatedWaitTime) : "–"}</td>
      {mayAct && (
        <td>
          <div class="actions">
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void run("Assign", async () => {
                await api.calls.assignQueueCall({ sessionId, extension: agent });
                return `Assigned to ${agent}`;
              });
            }}
          >
            <select aria-label={`Agent for the call from ${label}`} value={agent} onChange={(e) => setAgent(e.currentTarget.value)} required>
              <option value="">Agent…</option>
              {withRoom.map((a) => (
                <option key={a.extension} value={a.extension}>
                  {a.extension} {a.name}
                </option>
              ))}
            </select>
            <button type="submit" disabled={busy}>
              Assign
            </button>
          </form>
          <select
            aria-label={`Priority of the call from ${label}`}
            value={priority}
            onChange={(e) => {
              const wanted = e.currentTarget.value;
              void run("Priority", async () => {
                await api.calls.setCallPriority({ sessionId, priority: wanted });
                setPriority(wanted);
                return `Priority set to ${wanted}`;
              });
            }}
          >
            <option value="high">high</option>
            <option value="normal">normal</option>
            <option value="low">low</option>
          </select>
          <TransferForm
            label={`Transfer the call from ${label} to`}
            busy={busy}
            onTransfer={(target) =>
              void run("Transfer", async () => {
                await api.calls.transferCall({ sessionId, target });
                return `Transferred to ${target}`;
              })
            }
          />
          <button type="button" class="danger" disabled={busy} onClick={() => run("Hang up", async () => void (await api.calls.hangupCall({ sessionId })))}>
            Hang up
          </button>
          </div>
          <Result outcome={outcome} />
        </td>
      )}
    </tr>
  );
}

/** The queue calls page. */
export function QueueCalls({ live, api, identity }: { live: Live; api: Api; identity: Identity }) {
  const state = useLive(live);
  useClock();
  const [offers, setOffers] = useState<Record<string, IncomingQueueCall>>({});
  useEffect(
    () =>
      live.listen((event) => {
        if (event.payload.case === "incomingQueueCall") {
          const offer = event.payload.value;
          setOffers((all) => ({ ...all, [offer.sessionId]: offer }));
        }
      }),
    [live],
  );
  const mayAct = identity.role === "supervisor" || identity.role === "admin";
  const waiting = [...state.calls.values()]
    .filter((c) => c.state === CallState.QUEUED)
    .sort((a, b) => millis(a.startedAt) - millis(b.startedAt));
  const positions = new Map<string, number>();
  const position = (call: Call) => {
    const queue = call.queue;
    const n = (positions.get(queue) ?? 0) + 1;
    positions.set(queue, n);
    return offers[call.callId]?.queuePosition || n;
  };
  return (
    <div class="page queue">
      <Panel title="Waiting queue calls">
        {waiting.length === 0 && <p class="empty">No caller is waiting.</p>}
        <table>
          <thead>
            <tr>
              <th scope="col">Position</th>
              <th scope="col">Caller</th>
              <th scope="col">Queue</th>
              <th scope="col">Waiting</th>
              <th scope="col">Estimated wait</th>
              {mayAct && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {waiting.map((call) => (
              <WaitingCall key={call.callId} call={call} position={position(call)} offer={offers[call.callId]} live={live} api={api} mayAct={mayAct} />
            ))}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
