// What the console's pages share: hooks onto the live picture and the clock,
// the outcome of a command (acknowledged, or refused with its reason), and
// the formatting of times and durations.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Live } from "./live.js";
import { reasonOf } from "./session.js";

/** Re-renders the component whenever `live` changes. */
export function useLive(live: Live): Live["state"] {
  const [, setVersion] = useState(0);
  useEffect(() => live.watch(() => setVersion((v) => v + 1)), [live]);
  return live.state;
}

/**
 * The time now, refreshed twice a second (for live durations: a timer
 * shown in whole seconds then lags the truth by half a second at most).
 */
export function useClock(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** A protobuf timestamp in ms since the epoch (0 when unset). */
export function millis(time: Timestamp | undefined): number {
  return time ? Number(time.seconds) * 1000 + Math.floor(time.nanos / 1e6) : 0;
}

/** `seconds` as m:ss, or h:mm:ss past the hour. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** A clock time of the page's locale. */
export function clockTime(ms: number): string {
  return ms ? new Date(ms).toLocaleTimeString() : "";
}

/** A percentage with one decimal, or a dash when there is none yet. */
export function percent(value: number | undefined): string {
  return value === undefined ? "–" : `${value.toFixed(1)}%`;
}

/** What a command came to. */
export type Outcome = { ok: true; text: string } | { ok: false; text: string };

/**
 * A command runner for buttons: `run(label, action)` runs `action` and keeps
 * its outcome (the acknowledgement, or the refusal's reason) for `<Result>`.
 */
export function useCommand(): [Outcome | null, (label: string, action: () => Promise<string | void>) => Promise<void>, boolean] {
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (label: string, action: () => Promise<string | void>) => {
    setBusy(true);
    try {
      const text = await action();
      setOutcome({ ok: true, text: text || `${label}: done` });
    } catch (error) {
      setOutcome({ ok: false, text: `${label} refused. ${reasonOf(error)}` });
    } finally {
      setBusy(false);
    }
  };
  return [outcome, run, busy];
}

/** Shows a command's outcome; screen readers hear it as it changes. */
export function Result({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return <p class="result" role="status" aria-live="polite" />;
  return (
    <p class={outcome.ok ? "result ok" : "result refused"} role={outcome.ok ? "status" : "alert"} aria-live="polite">
      {outcome.text}
    </p>
  );
}

/** A titled section of a page. */
export function Panel({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const heading = `${id ?? title.toLowerCase().replace(/\W+/g, "-")}-title`;
  return (
    <section class="panel" aria-labelledby={heading}>
      <h2 id={heading}>{title}</h2>
      {children}
    </section>
  );
}

/** The stream's state, for the page header. */
export function StreamBadge({ live }: { live: Live }) {
  const connection = useLive(live).connection;
  const text = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: connection.state === "reconnecting" ? `Reconnecting (${connection.reason})` : "",
    refused: connection.state === "refused" ? connection.reason : "",
  }[connection.state];
  return (
    <span class={`badge stream-${connection.state}`} role="status" data-stream={connection.state}>
      {text}
    </span>
  );
}

/**
 * A transfer target and its button. `label` names the field for screen
 * readers; `visibleLabel`, when given, shows it too.
 */
export function TransferForm({ label, visibleLabel, busy, onTransfer }: { label: string; visibleLabel?: string; busy: boolean; onTransfer: (target: string) => void }) {
  const [target, setTarget] = useState("");
  const field = (
    <input
      aria-label={visibleLabel ? undefined : label}
      placeholder={visibleLabel ? undefined : "to…"}
      value={target}
      onInput={(e) => setTarget(e.currentTarget.value)}
      inputMode="numeric"
      size={6}
      required
    />
  );
  return (
    <form
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        onTransfer(target.trim());
      }}
    >
      {visibleLabel ? (
        <label>
          {visibleLabel}
          {field}
        </label>
      ) : (
        field
      )}
      <button type="submit" disabled={busy}>
        Transfer
      </button>
    </form>
  );
}
