// What the example pages share: each report is shown as a line of the page's
// list and handed to the test harness (clients/web/run-in-chromium.mjs),
// which exposes `window.switchboardReport`.

/** The test harness's hook, when the page runs under it. */
const harness = window as unknown as { switchboardReport?: (report: unknown) => void };

const list = document.getElementById("events");

/** Shows `line` on the page and hands it to the harness. */
export function report(line: unknown): void {
  harness.switchboardReport?.(line);
  const item = document.createElement("li");
  item.textContent = JSON.stringify(line);
  list?.appendChild(item);
}
