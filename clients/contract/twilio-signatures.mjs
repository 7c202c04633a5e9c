// Twilio's own Node library as the referee of webhook signatures: for
// request URLs with the characters that tell validators apart (apostrophes,
// `+` and `%20`, non-ASCII, ports, IPv6, repeated and numeric keys), each
// signed over the forms a sender may have used (and over wrong ones), prints
// one JSON line per case with the verdict of `twilio.validateRequest` (or
// `validateRequestWithBody` for a JSON body). tests/api/webhooks.rs checks
// that switchboard's verdict is the same on every line.
//
//   node clients/contract/twilio-signatures.mjs
import twilio from "twilio";
import webhooks from "twilio/lib/webhooks/webhooks.js";

const token = "12345";
const params = { CallSid: "CA1234567890ABCDE", Caller: "+14158675310", Digits: ["1", "2"], To: "" };
const requests = [
  "https://hub.example.com/webhooks/twilio/status",
  "https://hub.example.com/webhooks/twilio/status?conference=conf-1",
  "https://hub.example.com/webhooks/twilio/status?name=O'Brien",
  "https://hub.example.com:8443/webhooks/twilio/status?name=O'Brien&note=a+b",
  "https://hub.example.com/webhooks/twilio/status?note=a%20b&b=2&1=x&b=1",
  "https://hub.example.com/webhooks/twilio/status?city=Z%C3%BCrich&who=J%27s",
  "https://hub.example.com/webhooks/twilio/status?city=Zürich&q=\"x\"",
  "http://[::1]:3001/webhooks/twilio/status?x='y'",
  "http://127.0.0.1/webhooks/twilio/status?a=%zz",
];
const portless = (url) => url.replace(/^([a-z]+:\/\/[^/?#]*?)(:\d+)(?=[/?#]|$)/i, "$1");
const legacy = (url) => {
  const at = url.indexOf("?");
  if (at < 0) return url;
  return url.slice(0, at) + "?" + url.slice(at + 1).split("&").map((pair) => {
    const [k, v = ""] = pair.split("=");
    const unescape = (s) => { try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch { return s; } };
    return encodeURIComponent(unescape(k)) + "=" + encodeURIComponent(unescape(v));
  }).join("&");
};
const signedOver = (url) => {
  const normalised = new URL(url).toString();
  const https = url.startsWith("https");
  const withPort = (u) => /^[a-z]+:\/\/(\[[^\]]*\]|[^/?#:]*)(:\d+)/i.test(u) ? u
    : u.replace(/^([a-z]+:\/\/[^/?#]*)/i, `$1${https ? ":443" : ":80"}`);
  return [url, portless(url), withPort(url), normalised, portless(normalised), withPort(normalised),
    legacy(normalised), legacy(url), url.replace("/status", "/other"), url + "&extra=1"];
};
for (const url of requests) {
  for (const signed of new Set(signedOver(url))) {
    const signature = webhooks.getExpectedTwilioSignature(token, signed, params);
    const valid = twilio.validateRequest(token, signature, url, params);
    console.log(JSON.stringify({ kind: "form", token, url, signed, params, signature, valid }));
  }
  const body = JSON.stringify({ CallSid: "CA1", CallStatus: "completed" });
  const hash = webhooks.getExpectedBodyHash(body);
  for (const withHash of [`${url}${url.includes("?") ? "&" : "?"}bodySHA256=${hash}`,
    `${url}${url.includes("?") ? "&" : "?"}bodySHA256=${hash.toUpperCase()}`]) {
    for (const signed of new Set([withHash, portless(withHash), new URL(withHash).toString()])) {
      const signature = webhooks.getExpectedTwilioSignature(token, signed, {});
      const valid = twilio.validateRequestWithBody(token, signature, withHash, body);
      console.log(JSON.stringify({ kind: "json", token, url: withHash, signed, body, signature, valid }));
    }
  }
}
