// Loads the browser telemetry (utils/otel.js, reflex-otel's module and browser_bundle.js) once the
// page has loaded and the browser is idle: the OpenTelemetry SDK is then off the first visit's
// critical path, where it cost phones 2-3 points of Lighthouse performance (make audit).
// Events sent before it loads (a page's first load events) get no browser span: the server
// traces them from their own root. Web vitals are read from the browser's buffered entries, so
// none is missed. The socket's connects are counted meanwhile, so the first reconnect after
// loading is still known as one.
const early = { connects: 0 };
window.__shop_otel_early = early;
window.__reflex_otel = {
  onSocketConnect() {
    early.connects += 1;
  },
};

const load = () => import("$/utils/otel");
const whenIdle = () =>
  window.requestIdleCallback
    ? window.requestIdleCallback(load, { timeout: 5000 })
    : window.setTimeout(load, 1);
if (document.readyState === "complete") {
  whenIdle();
} else {
  window.addEventListener("load", whenIdle, { once: true });
}
